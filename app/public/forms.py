from ..forms import ContactFieldsMixin, ReportFieldsForm


class PublicReportForm(ReportFieldsForm, ContactFieldsMixin):
    pass
