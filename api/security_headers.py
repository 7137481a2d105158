"""Security headers on every reply of the API, the dashboard and the API docs (the `secure` package).

The Content-Security-Policy allows only this origin's own scripts, styles, images and
calls, and no framing (`frame-ancestors 'none'`, with `X-Frame-Options: DENY` for older
browsers). The dashboard and the Swagger UI at `/docs` are built for it: no inline
script or style attribute, every file served from here (`api.docs`).
"""

from __future__ import annotations

import secure
from secure.middleware import SecureASGIMiddleware

__all__ = ["HEADERS", "POLICY", "SecureASGIMiddleware"]

SELF = "'self'"

CONTENT_SECURITY_POLICY = (
    secure.ContentSecurityPolicy()
    .default_src(SELF)
    .script_src(SELF)
    .style_src(SELF)
    .img_src(SELF, "data:")
    .font_src(SELF)
    .connect_src(SELF)
    .object_src("'none'")
    .base_uri("'none'")
    .form_action(SELF)
    .frame_ancestors("'none'")
)

POLICY = secure.Secure(
    csp=CONTENT_SECURITY_POLICY,
    xcto=secure.XContentTypeOptions(),
    referrer=secure.ReferrerPolicy().no_referrer(),
    xfo=secure.XFrameOptions().deny(),
    corp=secure.CrossOriginResourcePolicy().same_origin(),
)

#: The same headers as a plain mapping, for replies made outside the middleware (the 500 handler).
HEADERS: dict[str, str] = dict(POLICY.headers)
