"""The outbound guard: explicit allow list, link-local and metadata always refused."""
from __future__ import annotations

import pytest

from chronos.outbound import OutboundRefused, check_host, check_url


def test_the_default_allows_only_this_machine():
    check_url("http://127.0.0.1:8080/x")
    check_url("http://localhost/x")
    with pytest.raises(OutboundRefused, match="CHRONOS_OUTBOUND_ALLOW"):
        check_url("http://10.1.2.3/x")


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://metadata.google.internal/",
                                 "http://[fe80::1]/", "http://169.254.1.1:80/"])
def test_metadata_and_link_local_are_refused_even_with_a_wildcard(url):
    with pytest.raises(OutboundRefused, match="always refused"):
        check_url(url, "*")


def test_patterns_globs_and_networks():
    check_host("10.1.2.3", "10.0.0.0/8")
    check_host("127.0.0.1", "*")
    with pytest.raises(OutboundRefused):
        check_host("11.0.0.1", "10.0.0.0/8")
    check_host("localhost", "local*")


def test_only_http_schemes():
    with pytest.raises(OutboundRefused, match="http"):
        check_url("file:///etc/passwd", "*")
    with pytest.raises(OutboundRefused, match="http"):
        check_url("gopher://127.0.0.1/", "*")
