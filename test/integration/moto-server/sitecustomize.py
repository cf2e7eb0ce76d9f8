# Loaded at start-up by the moto_server the integration tier starts (PYTHONPATH points here), and by
# nothing else.
#
# Works around getmoto/moto#5948. With IAM enforced, moto verifies a request's SigV4 signature by
# recomputing it from werkzeug's Request.url, which re-quotes the query string and turns "%2F" back
# into "/". The AWS SDK signed the escaped form (SigV4's canonical query string percent-encodes every
# byte except unreserved characters), so every signed request with a "/" in a query value, such as
# ListObjectsV2 with Prefix=curated/, fails with SignatureDoesNotMatch. This hands the signature check
# the query string exactly as it arrived. Authentication and authorization stay moto's own.
import functools

from moto.core.authorization import ActionAuthenticatorMixin

_original = ActionAuthenticatorMixin._authenticate_and_authorize_action


@functools.wraps(_original)
def _with_raw_query(self, iam_request_cls, resource="*"):
    request = getattr(self, "request", None)
    environ = getattr(request, "environ", None) or {}
    raw_query = environ.get("QUERY_STRING")
    uri = getattr(self, "uri", None)
    if not raw_query or not uri:
        return _original(self, iam_request_cls, resource)
    self.uri = uri.split("?", 1)[0] + "?" + raw_query
    try:
        return _original(self, iam_request_cls, resource)
    finally:
        self.uri = uri


ActionAuthenticatorMixin._authenticate_and_authorize_action = _with_raw_query
