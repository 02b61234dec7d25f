"""Imports: tickets from plugins' sources become reports; linked work items carry fixes."""
