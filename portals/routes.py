"""HTTP routes beside the Streamlit pages: sign-in, sign-up, sign-out and health.

Sign-in is a plain HTML form posted to the server, because only an HTTP response can set
an HttpOnly cookie; the Streamlit pages then read that cookie (see runtime.current_user).
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

from . import sessions
from .runtime import READY, get_host

THROTTLE = sessions.Throttle()


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
                 status: int = 200) -> HTMLResponse:
    extra = ""
    if host.self_signup_enabled():
        extra = (f'<p class="note">New here? <a href="/signup?next={quote(next_path)}">'
                 f"Create an account</a> ({host.config.users.starting_grant} free tokens).</p>")
    return _page("Sign in", _form("/signin", "Sign in", next_path, error, name, extra), status)


def _signed_in(host: Host, name: str, next_path: str) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    response.set_cookie(sessions.COOKIE, sessions.issue(host, name),
                        max_age=sessions.max_age(host), httponly=True, samesite="strict",
                        path="/")
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
    client = f"ip:{request.client.host if request.client else '?'}"
    keys = (f"user:{name.lower()}", client)
    wait = THROTTLE.wait_seconds(*keys)
    if wait > 0:
        return _signin_page(host, next_path,
                            f"Too many failed sign-ins. Try again in {int(wait) + 1} s.",
                            name, 429)
    # scrypt takes tens of milliseconds: keep it off the event loop the pages share.
    user = await asyncio.to_thread(host.authenticate, name, password)
    if user is None:
        THROTTLE.failed(*keys)
        return _signin_page(host, next_path, "Wrong user name or password.", name, 401)
    THROTTLE.succeeded(*keys)
    return _signed_in(host, user.name, next_path)


async def signup(request: Request) -> Response:
    host = get_host()
    next_path = _safe_next(request.query_params.get("next"))
    if not host.self_signup_enabled():
        return _page("Sign up", '<p class="error">Sign-up is switched off. Ask an admin for '
                                'an account.</p><p><a href="/signin">Sign in</a></p>', 403)
    note = (f'<p class="note">You start with {host.config.users.starting_grant} tokens. '
            'Already have an account? <a href="/signin">Sign in</a>.</p>')
    if request.method == "GET":
        return _page("Sign up", _form("/signup", "Create account", next_path, None, "", note))
    if not _same_origin(request):
        return _page("Sign up", '<p class="error">Cross-site sign-up refused.</p>', 403)
    form = await request.form()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    next_path = _safe_next(str(form.get("next", "/")))
    client = f"ip:{request.client.host if request.client else '?'}"
    if THROTTLE.wait_seconds(client) > 0:
        return _page("Sign up", '<p class="error">Too many attempts; try again later.</p>', 429)
    try:
        user = await asyncio.to_thread(host.sign_up, name, password)
    except TokenworksError as error:
        THROTTLE.failed(client)
        body = _form("/signup", "Create account", next_path, str(error), name, note)
        return _page("Sign up", body, 400)
    return _signed_in(host, user.name, next_path)


async def signout(request: Request) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def health(request: Request) -> Response:
    """Healthy once the host is up and its store answers and can write; says what failed
    otherwise ("degraded", with reasons, while the store cannot write)."""
    try:
        host = await asyncio.to_thread(get_host)
        version = host.store.state_version()
        failed = [p.name for p in host.discovery.plugins if p.status == "failed"]
        problem = host.store.storage_problem()  # reads answer, but can writes land?
    except Exception as error:  # health must answer, whatever broke
        return JSONResponse({"status": "error", "error": f"{type(error).__name__}: {error}"},
                            status_code=503)
    reasons = [problem] if problem else []
    status = "starting" if not READY.is_set() else "degraded" if reasons else "ok"
    return JSONResponse({"status": status, "reasons": reasons,
                         "functions": len(host.functions()), "failed_plugins": failed,
                         "state_version": version}, status_code=200 if status == "ok" else 503)


async def state(request: Request) -> Response:
    """The state version the open pages poll (portals/live.py): a number, nothing more."""
    return JSONResponse({"version": get_host().store.state_version()},
                        headers={"cache-control": "no-store"})


ROUTES = [
    Route("/signin", signin, methods=["GET", "POST"]),
    Route("/signup", signup, methods=["GET", "POST"]),
    Route("/signout", signout, methods=["GET", "POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/state", state, methods=["GET"]),
]
