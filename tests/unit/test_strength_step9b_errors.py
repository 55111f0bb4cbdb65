"""The missing-route hint (orbit_local/protocols/errors.py) for a user's own profile, and the
fix each of its two forms gives.

A user registers a profile for a server of their own (``ProviderProfile.with_overrides``,
``providers.register``) and writes its default URL as they please, a trailing slash included:
the hint must compare API prefixes, not spellings.
"""

from __future__ import annotations

from orbit_local import errors as ol
from orbit_local.protocols.errors import error_from_response
from orbit_local.providers import get_provider


def _missing_route(profile_default: str, base_url: str) -> ol.OrbitLocalError:
    profile = get_provider("openai-compatible").with_overrides(
        name="my-server", display_name="My Server", default_base_url=profile_default
    )
    return error_from_response(profile, base_url, 404, "", route="POST /v1/embeddings")


def test_a_profiles_default_url_with_a_trailing_slash_has_the_same_prefix() -> None:
    error = _missing_route("http://localhost:9000/v1/", "http://127.0.0.1:9000/v1")
    assert isinstance(error, ol.EndpointNotFoundError)
    hint = error.hint or ""
    assert "try base_url" not in hint  # the base URL is right: the server lacks the endpoint
    assert "looks right" in hint


def test_each_form_of_the_hint_ends_with_what_to_check() -> None:
    wrong_prefix = _missing_route("http://localhost:9000/v1", "http://127.0.0.1:9000/api").hint or ""
    assert "try base_url ending in '/v1' (e.g. http://localhost:9000/v1)" in wrong_prefix
    assert "lacks the feature" in wrong_prefix  # if the prefix was not it
    right_prefix = _missing_route("http://localhost:9000/v1", "http://127.0.0.1:9000/v1").hint or ""
    assert "check its documentation for the option that enables it" in right_prefix


def test_a_404_without_a_route_still_says_there_is_no_such_endpoint() -> None:
    error = error_from_response(get_provider("lmstudio"), "http://127.0.0.1:1234/v1", 404, "")
    assert isinstance(error, ol.EndpointNotFoundError)
    assert "the server has no such endpoint" in error.message
