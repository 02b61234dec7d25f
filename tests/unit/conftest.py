import pytest

from app.grouping import similarity_index


@pytest.fixture
def index(app_ctx):
    """The app's index with its process copy dropped, as after a restart."""
    index = similarity_index()
    index.forget()
    yield index
    index.forget()
