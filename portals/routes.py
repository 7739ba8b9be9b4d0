"""HTTP routes beside the Streamlit pages: sign-in, sign-up, sign-out, health and state.

Sign-in is a plain HTML form posted to the server, because only an HTTP response can set
an HttpOnly cookie; the Streamlit pages then read that cookie and check its session on
every run (see runtime.current_user). Sign-out is a POST too, with a per-session CSRF
token beside the same-origin check.
"""

from __future__ import annotations

import asyncio
import html
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tokenworks.errors import TokenworksError
from tokenworks.host import Host

from . import sessions, throttle
from .client_address import is_https
from .runtime import READY, get_host


def _safe_next(value: str | None) -> str:
    """Only same-site paths, so the sign-in page cannot bounce a user to another site."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _same_origin(request: Request) -> bool:
    """Refuse cross-site form posts (the browser names the page that posted)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(status_code=status, content=f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)} · tokenworks</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body {{ font-family: system-ui, sans-serif; background: #f6f7f9; margin: 0; }}
 main {{ max-width: 22rem; margin: 10vh auto; background: #fff; padding: 2rem;
        border-radius: .75rem; box-shadow: 0 1px 4px #0002; }}
 h1 {{ font-size: 1.4rem; margin-top: 0; }} label {{ display: block; margin: .8rem 0 .2rem; }}
 input {{ width: 100%; padding: .5rem; box-sizing: border-box; font-size: 1rem; }}
 button {{ margin-top: 1.2rem; width: 100%; padding: .6rem; font-size: 1rem; background: #ff4b4b;
          color: #fff; border: 0; border-radius: .4rem; cursor: pointer; }}
 .error {{ color: #b00020; background: #fde7ea; padding: .5rem; border-radius: .3rem; }}
 .note {{ color: #555; font-size: .9rem; }}
</style></head><body><main><h1>tokenworks</h1>{body}</main></body></html>""")


def _form(action: str, button: str, next_path: str, error: str | None, name: str,
          extra: str = "") -> str:
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""{problem}
<form method="post" action="{action}">
 <input type="hidden" name="next" value="{html.escape(next_path)}">
 <label for="name">User name</label>
 <input id="name" name="name" autocomplete="username" required value="{html.escape(name)}">
 <label for="password">Password</label>
 <input id="password" name="password" type="password" required
        autocomplete="{'new-password' if action == '/signup' else 'current-password'}">
 <button type="submit">{button}</button>
</form>{extra}"""


def _signin_page(host: Host, next_path: str, error: str | None = None, name: str = "",
                 status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    extra = ""
    if host.self_signup_enabled():
        extra = (f'<p class="note">New here? <a href="/signup?next={quote(next_path)}">'
                 f"Create an account</a>{_grant_note(host)}.</p>")
    page = _page("Sign in", _form("/signin", "Sign in", next_path, error, name, extra), status)
    page.headers.update(headers or {})
    return page


def _grant_note(host: Host) -> str:
    grant = host.config.users.starting_grant
    return f" ({grant} free tokens)" if grant else ""


def _signup_note(host: Host) -> str:
    grant = host.config.users.starting_grant
    start = (f"You start with {grant} tokens." if grant else
             "New accounts start without tokens: an admin grants them.")
    return f'<p class="note">{start} Already have an account? <a href="/signin">Sign in</a>.</p>'


def _too_many(wait: float) -> dict[str, str]:
    return {"Retry-After": str(int(wait) + 1)}


async def _signed_in(host: Host, request: Request, name: str, next_path: str) -> Response:
    """Start a new session (ending the one this browser had, if any) and set its cookie,
    and the device cookie that spares this browser the account's lock-out (throttle.py)."""
    earlier = request.cookies.get(sessions.COOKIE)
    if earlier:
        await asyncio.to_thread(sessions.end, host, earlier, "replaced by a new sign-in")
    cookie = await asyncio.to_thread(sessions.issue, host, name)
    secure = is_https(request, host.config.portal.trusted_proxies)
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(sessions.COOKIE, cookie, max_age=sessions.max_age(host), httponly=True,
                        samesite="strict", secure=secure, path="/")
    response.set_cookie(throttle.DEVICE_COOKIE, throttle.device_cookie(host, name),
                        max_age=throttle.DEVICE_DAYS * 86400, httponly=True, samesite="strict",
                        secure=secure, path="/signin")
    return response


async def signin(request: Request) -> Response:
    host = get_host()
    next_path = _safe_next(request.query_params.get("next"))
    if request.method == "GET":
        return _signin_page(host, next_path)
    if not _same_origin(request):
        return _page("Sign in", '<p class="error">Cross-site sign-in refused.</p>', 403)
    form = await request.form()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    next_path = _safe_next(str(form.get("next", "/")))
    # Counted before the password is checked: concurrent guesses cannot outrun the limit.
    rules = throttle.sign_in_rules(host, request, name)
    wait = await asyncio.to_thread(host.take_attempt, rules)
    if wait > 0:
        return _signin_page(host, next_path,
                            f"Too many sign-in attempts. Try again in {throttle.wait_text(wait)}.",
                            name, 429, _too_many(wait))
    # scrypt takes tens of milliseconds: keep it off the event loop the pages share.
    user = await asyncio.to_thread(host.authenticate, name, password)
    if user is None:
        return _signin_page(host, next_path, "Wrong user name or password.", name, 401)
    await asyncio.to_thread(host.refund_attempt, rules)  # only the attempt it used
    return await _signed_in(host, request, user.name, next_path)


async def signup(request: Request) -> Response:
    host = get_host()
    next_path = _safe_next(request.query_params.get("next"))
    if not host.self_signup_enabled():
        return _page("Sign up", '<p class="error">Sign-up is switched off. Ask an admin for '
                                'an account.</p><p><a href="/signin">Sign in</a></p>', 403)
    note = _signup_note(host)
    if request.method == "GET":
        return _page("Sign up", _form("/signup", "Create account", next_path, None, "", note))
    if not _same_origin(request):
        return _page("Sign up", '<p class="error">Cross-site sign-up refused.</p>', 403)
    form = await request.form()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    next_path = _safe_next(str(form.get("next", "/")))
    wait = await asyncio.to_thread(host.take_attempt, [throttle.sign_up_rule(host, request)])
    if wait > 0:
        page = _page("Sign up", '<p class="error" role="alert">Too many sign-ups from your '
                     f"address. Try again in {throttle.wait_text(wait)}.</p>", 429)
        page.headers.update(_too_many(wait))
        return page
    try:
        user = await asyncio.to_thread(host.sign_up, name, password)
    except TokenworksError as error:
        body = _form("/signup", "Create account", next_path, str(error), name, note)
        return _page("Sign up", body, 400)
    return await _signed_in(host, request, user.name, next_path)


def signout_form(csrf: str, label: str = "Sign out") -> str:
    """The sign-out button: a form posting to /signout with the session's CSRF token
    (the portal's sidebar draws it too, navigation.py)."""
    return (f'<form method="post" action="/signout" class="tw-signout">'
            f'<input type="hidden" name="csrf" value="{html.escape(csrf)}">'
            f'<button type="submit">{html.escape(label)}</button></form>')


async def signout(request: Request) -> Response:
    """GET: a page with the sign-out button. POST: end the session (CSRF-checked), clear
    the cookie and land on the sign-in page."""
    host = get_host()
    cookie = request.cookies.get(sessions.COOKIE)
    live = bool(cookie) and await asyncio.to_thread(sessions.verify, host, cookie,
                                                      touch=False) is not None
    if request.method == "GET":
        if not live:
            return RedirectResponse("/signin", status_code=303)
        return _page("Sign out", "<p>Sign out of tokenworks in this browser?</p>"
                     + signout_form(sessions.csrf_token(host, cookie)))
    form = await request.form()
    if cookie and not (_same_origin(request)
                       and sessions.csrf_ok(host, cookie, str(form.get("csrf", "")))):
        return _page("Sign out", '<p class="error" role="alert">Sign-out refused: the form '
                     'came from another site or an older page. <a href="/signout">Sign out '
                     "here</a>.</p>", 403)
    if cookie:
        await asyncio.to_thread(sessions.end, host, cookie)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def health(request: Request) -> Response:
    """Healthy once the host is up, its workers started and its store answers; "degraded",
    with reasons, when calls cannot all be served. Public: it names no plugin."""
    try:
        host = await asyncio.to_thread(get_host)
        version = host.state_version()
        reasons = await asyncio.to_thread(host.health)
    except Exception as error:  # health must answer, whatever broke
        return JSONResponse({"status": "error", "error": type(error).__name__},
                            status_code=503)
    status = "degraded" if reasons else "ok"
    if not READY.is_set():
        status = "starting"
    return JSONResponse({"status": status, "reasons": reasons,
                         "functions": len(host.functions()), "state_version": version},
                        status_code=200 if status == "ok" else 503)


async def state(request: Request) -> Response:
    """What the open pages poll once a second (portals/live.py): the state version, and
    whether the browser's session is still live (when it is not, the page goes to the
    sign-in page). Checking does not count as use of the session."""
    host = get_host()
    cookie = request.cookies.get(sessions.COOKIE)
    signed_in = bool(cookie) and await asyncio.to_thread(
        sessions.verify, host, cookie, touch=False) is not None
    return JSONResponse({"version": host.state_version(), "signed_in": signed_in},
                        headers={"cache-control": "no-store"})


ROUTES = [
    Route("/signin", signin, methods=["GET", "POST"]),
    Route("/signup", signup, methods=["GET", "POST"]),
    Route("/signout", signout, methods=["GET", "POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/state", state, methods=["GET"]),
]
