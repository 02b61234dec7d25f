"""The server-side request forgery rule for outgoing webhooks (app/security/netguard.py)."""

from __future__ import annotations

import pytest

from app.security.netguard import UnsafeURL, check_url, is_public_address


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",  # cloud metadata
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.10", "198.18.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",  # IPv4-mapped
    "2002:7f00:1::1",  # 6to4 wrapping 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 wrapping 10.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo whose client is 10.0.0.1
    "fe80::1%eth0",
])
def test_internal_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_ordinary_internet_addresses_are_public(address):
    assert is_public_address(address)


def fixed(*addresses):
    return lambda host, port: list(addresses)


def test_a_public_https_address_passes_and_keeps_its_host_for_tls():
    target = check_url("https://hooks.example.com/in?x=1", resolver=fixed("93.184.216.34"))
    assert target.host == "hooks.example.com" and target.port == 443
    assert target.host_header == "hooks.example.com"
    assert target.pinned_url("93.184.216.34") == "https://93.184.216.34:443/in?x=1"
    assert check_url("http://h.example.com:8080/", resolver=fixed("2606:4700::1")).pinned_url("2606:4700::1") \
        == "http://[2606:4700::1]:8080/"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com", "javascript:alert(1)",
                                 "//example.com/x", "example.com/hook", ""])
def test_only_http_and_https_are_accepted(url):
    with pytest.raises(UnsafeURL, match="http"):
        check_url(url, resolver=fixed("93.184.216.34"), allow_private=True)


def test_file_urls_are_refused_even_when_private_addresses_are_allowed():
    with pytest.raises(UnsafeURL):
        check_url("file:///etc/passwd", allow_private=True)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://[::1]:8000/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data",
    "http://10.1.2.3/", "http://192.168.0.10:8080/", "http://[fd00::5]/", "http://0.0.0.0:5000/",
])
def test_literal_internal_addresses_are_refused(url):
    with pytest.raises(UnsafeURL, match="private"):
        check_url(url)


def test_a_name_that_resolves_inside_is_refused():
    with pytest.raises(UnsafeURL, match="10.0.0.7"):
        check_url("https://innocent.example.com/", resolver=fixed("10.0.0.7"))
    # One bad address among good ones is enough to refuse (the connection could go to either).
    with pytest.raises(UnsafeURL):
        check_url("https://mixed.example.com/", resolver=fixed("93.184.216.34", "::1"))


def test_real_resolution_of_localhost_and_a_decimal_ip_is_refused():
    with pytest.raises(UnsafeURL):
        check_url("http://localhost:8000/hook")
    with pytest.raises(UnsafeURL):
        check_url("http://2130706433/")  # 127.0.0.1 written as one number


def test_allow_private_lets_an_internal_receiver_through():
    target = check_url("http://localhost:8000/hook", allow_private=True)
    assert "127.0.0.1" in target.addresses or "::1" in target.addresses
    assert target.host_header == "localhost:8000"


def test_user_info_and_bad_ports_are_refused():
    with pytest.raises(UnsafeURL, match="password"):
        check_url("https://user:pw@hooks.example.com/", resolver=fixed("93.184.216.34"))
    with pytest.raises(UnsafeURL):
        check_url("https://hooks.example.com:99999/", resolver=fixed("93.184.216.34"))


def test_a_name_that_does_not_resolve_is_refused():
    def fail(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeURL, match="could not be found"):
        check_url("https://nowhere.invalid/", resolver=fail)
