"""NAME of `mega g KIND NAME`: one name in every spelling, refused with the reason when it cannot be one."""

from __future__ import annotations

import pytest

from mega.cli._names import language_tag, parse_name, parse_title, title_of
from mega.errors import MegaError


@pytest.mark.parametrize(("raw", "pascal", "snake", "kebab", "camel"), [
    ("UserProfile", "UserProfile", "user_profile", "user-profile", "userProfile"),
    ("user_profile", "UserProfile", "user_profile", "user-profile", "userProfile"),
    ("user-profile", "UserProfile", "user_profile", "user-profile", "userProfile"),
    ("userProfile", "UserProfile", "user_profile", "user-profile", "userProfile"),
    ("HTTPClient", "HttpClient", "http_client", "http-client", "httpClient"),
    ("OAuth2", "OAuth2", "o_auth2", "o-auth2", "oAuth2"),
    ("post", "Post", "post", "post", "post"),
    ("v2_api", "V2Api", "v2_api", "v2-api", "v2Api"),
])
def test_spellings(raw: str, pascal: str, snake: str, kebab: str, camel: str) -> None:
    name = parse_name(raw, "controller")
    assert (name.pascal, name.snake, name.kebab, name.camel, name.given) == (pascal, snake, kebab, camel, raw)


def test_the_kind_suffix_is_dropped_but_not_the_whole_name() -> None:
    assert parse_name("UserController", "controller", suffix="controller").snake == "user"
    assert parse_name("billing_service", "service", suffix="service").pascal == "Billing"
    assert parse_name("Service", "service", suffix="service").snake == "service"


@pytest.mark.parametrize(("raw", "why"), [
    ("", "it must start with a letter"),
    ("9bad", "it must start with a letter"),
    ("_private", "it must start with a letter"),
    ("é", "it must start with a letter"),
    ("a b", "it may hold only letters, digits, '_' and '-' (' ' is not allowed)"),
    ("naïve", "('ï' is not allowed)"),
    ("Class", "'class' is a Python keyword"),
    ("import", "'import' is a Python keyword"),
    ("Mega", "'mega' is reserved: it is the framework's package name"),
    ("tests", "'tests' is reserved"),
    ("a" * 65, "it is longer than 64 characters"),
])
def test_refusals_say_why(raw: str, why: str) -> None:
    with pytest.raises(MegaError) as caught:
        parse_name(raw, "service", example="billing")
    assert caught.value.code == "generate.invalid_name"
    assert caught.value.message.startswith(f"invalid service name {raw!r}: ")
    assert why in caught.value.message
    assert caught.value.hint == "e.g. mega g service billing"


@pytest.mark.parametrize(("raw", "tag"), [
    ("ko", "ko"), ("EN", "en"), ("pt-BR", "pt_BR"), ("pt_br", "pt_BR"), ("zh-hant-tw", "zh_Hant_TW"),
    ("es-419", "es_419"), ("fil", "fil"),
])
def test_language_tags(raw: str, tag: str) -> None:
    assert language_tag(raw) == tag


@pytest.mark.parametrize("raw", ["english", "e", "en-", "en-USA", "en/US", "../en", "en-US-x"])
def test_bad_language_tags(raw: str) -> None:
    with pytest.raises(MegaError) as caught:
        language_tag(raw)
    assert caught.value.code == "generate.invalid_name"
    assert "a locale is a language tag" in caught.value.message


def test_titles() -> None:
    assert parse_title("Use PostgreSQL for jobs", "adr").kebab == "use-postgresql-for-jobs"
    assert title_of(parse_title("Use  PostgreSQL", "adr")) == "Use PostgreSQL"
    assert title_of(parse_title("use-nats_bus", "adr")) == "Use nats bus"
    with pytest.raises(MegaError, match=r"'\?' is not allowed"):
        parse_title("Why?!", "adr")
