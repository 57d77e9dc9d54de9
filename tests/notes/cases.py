"""
cases.py - the notes app (app/notes) through the real stack, in the order
the tests run: the list, adding and deleting with their flash messages, the
JSON API, a guest's notes joining an account at sign-up and sign-in, and bad
input (empty, too long, not UTF-8, control characters, a bad id, a 21st
note).

The app is built from the same tier as the shop without a line of the tier
changed; these tests see it only from outside, as a browser does.
"""

import html
import os
import time
import urllib.parse

from harness.core import (check, check_eq, check_logs_are_json, check_no_errors_logged,
                          excerpt, new_name)
from harness.runner import Tests
from harness.web import form_tokens, home_anonymous, home_signed_in

TESTS = Tests()
case, after_down = TESTS.case, TESTS.after_down

PASSWORD = "correct horse battery"
NOTES_MAX = 20
TEXT_MAX = 500


def token(b):
    """The CSRF token of the front page's forms."""
    r = b.get("/")
    check(r.status == 200, f"GET /: {r.describe()}")
    toks = form_tokens(r.body)
    check(toks, f"GET /: no csrf input in {excerpt(r.body)}")
    return toks[0]


def add(b, text, expect=303):
    r = b.post("/notes", {"text": text, "csrf": token(b)})
    check(r.status == expect, f"POST /notes {excerpt(text, 40)!r}: expected {expect}, "
          f"got {r.describe()}")
    if expect == 303:
        check_eq(r.location_path(), "/", "POST /notes redirects to")
    return r


def delete(b, note_id, expect=303):
    r = b.post(f"/notes/{note_id}/delete", {"csrf": token(b)})
    check(r.status == expect, f"POST /notes/{note_id}/delete: expected {expect}, "
          f"got {r.describe()}")
    return r


def api(b):
    r = b.get("/api/notes")
    check(r.status == 200, f"GET /api/notes: {r.describe()}")
    ct = r.header("Content-Type") or ""
    check(ct.startswith("application/json"), f"GET /api/notes Content-Type {ct!r}")
    return r.json()


def texts(b):
    return [n["text"] for n in api(b)["notes"]]


def signed_up(ctx):
    b = ctx.browser()
    name = new_name("nt")
    b.signup(name, PASSWORD)
    return b, name


def flash_on_next_page(b, words):
    """The next page shows words as a flash, and the page after it not."""
    r = b.get("/")
    check(r.status == 200 and 'class="flash' in r.body and words in r.body,
          f"GET / after the post: expected the flash {words!r}, got {excerpt(r.body, 600)}")
    r = b.get("/")
    check('class="flash' not in r.body, f"the flash {words!r} showed twice")


def logout(b):
    r = b.post("/logout", {"csrf": token(b)})
    check_eq(r.status, 303, "POST /logout status")


# --------------------------------------------------------------------------
# the list, adding, deleting

@case
def a_new_visitor_sees_an_empty_list_and_gets_no_session(ctx):
    b = ctx.browser()
    r = b.get("/")
    check_eq(r.status, 200, "GET / status")
    check("No notes yet." in r.body and ">0</span> of 20 notes" in r.body,
          f"expected an empty list: {excerpt(r.body, 600)}")
    check(ctx.cookie not in b.jar, f"reading started a session: {b.history}")
    j = api(b)
    check(j["user"] is None and j["guest"] is False and j["notes"] == [] and j["max"] == 20,
          f"GET /api/notes for a new visitor: {j}")


@case
def a_guest_adds_a_note_and_sees_it_after_the_flash(ctx):
    b = ctx.browser()
    add(b, "buy milk")
    check(ctx.cookie in b.jar, f"the first note started no guest session: {b.history}")
    flash_on_next_page(b, "Note added.")
    r = b.get("/")
    check("buy milk" in r.body and ">1</span> of 20 notes" in r.body,
          f"GET / does not list the note: {excerpt(r.body, 800)}")
    j = api(b)
    check(j["guest"] is True and j["user"] is None, f"expected a guest: {j}")
    check_eq(texts(b), ["buy milk"], "the guest's notes")


@case
def notes_keep_their_order_text_and_time(ctx):
    b, _ = signed_up(ctx)
    before = int(time.time())
    for t in ("first", "second line\nand a third", "  spaced  ", "naïve café ✓"):
        add(b, t)
    after = int(time.time())
    notes = api(b)["notes"]
    check_eq([n["text"] for n in notes],
             ["first", "second line\nand a third", "  spaced  ", "naïve café ✓"], "texts")
    ids = [n["id"] for n in notes]
    check(all(isinstance(i, int) and i > 0 for i in ids) and len(set(ids)) == 4,
          f"ids are not distinct positive integers: {ids}")
    check(all(before - 1 <= n["created"] <= after + 1 for n in notes),
          f"created not within [{before}, {after}]: {notes}")


@case
def a_note_is_shown_escaped(ctx):
    b = ctx.browser()
    evil = '<script>alert("x")</script> & <b>'
    add(b, evil)
    r = b.get("/")
    check(evil not in r.body and html.escape(evil, quote=False) in r.body.replace("&#34;", '"')
          .replace("&quot;", '"'),
          f"the note is not escaped: {excerpt(r.body, 900)}")
    check_eq(texts(b), [evil], "the note through JSON")


@case
def deleting_a_note_removes_only_it_with_a_flash(ctx):
    b, _ = signed_up(ctx)
    for t in ("keep 1", "drop", "keep 2"):
        add(b, t)
    notes = api(b)["notes"]
    drop = [n["id"] for n in notes if n["text"] == "drop"][0]
    r = delete(b, drop)
    check_eq(r.location_path(), "/", "delete redirects to")
    flash_on_next_page(b, "Note deleted.")
    check_eq(texts(b), ["keep 1", "keep 2"], "notes after the delete")
    r = b.get("/")
    check(f'id="note-{drop}"' not in r.body, "the deleted note is still on the page")


@case
def ids_are_not_reused_after_a_delete(ctx):
    b, _ = signed_up(ctx)
    add(b, "a")
    add(b, "b")
    notes = api(b)["notes"]
    last = notes[-1]["id"]
    delete(b, last)
    add(b, "c")
    c = api(b)["notes"][-1]
    check(c["text"] == "c" and c["id"] > last,
          f"the new note took id {c['id']}, the deleted one had {last}")
    # A form for the deleted note, left open in another tab, deletes nothing.
    delete(b, last, expect=404)
    check_eq(texts(b), ["a", "c"], "notes after the stale delete")


@case
def the_api_answers_json_with_the_csrf_token(ctx):
    b, name = signed_up(ctx)
    add(b, 'quote " backslash \\ tab \t')
    r = b.get("/api/notes")
    check_eq(r.status, 200, "status")
    j = r.json()
    check_eq(j["user"], name, "user")
    check_eq(j["guest"], False, "guest")
    check_eq(j["max"], NOTES_MAX, "max")
    check(isinstance(j["csrf"], str) and j["csrf"], f"no csrf token: {j}")
    check_eq([n["text"] for n in j["notes"]], ['quote " backslash \\ tab \t'], "notes")
    check_eq(sorted(j["notes"][0]), ["created", "id", "text"], "a note's keys")
    # The token of the API is one the forms accept.
    r = b.post("/notes", {"text": "from the api token", "csrf": j["csrf"]})
    check_eq(r.status, 303, "POST /notes with the API's token")


# --------------------------------------------------------------------------
# a guest's notes at sign-up and sign-in

@case
def a_guests_notes_join_the_account_at_signup(ctx):
    b = ctx.browser()
    add(b, "guest one")
    add(b, "guest two")
    guest_notes = api(b)["notes"]
    guest_sid = b.jar.get(ctx.cookie)
    name = new_name("nt")
    b.signup(name, PASSWORD)
    check(b.jar.get(ctx.cookie) not in (None, guest_sid), "sign-up kept the guest's session ID")
    home_signed_in(b, name)
    j = api(b)
    check_eq(j["user"], name, "user after sign-up")
    check_eq([n["text"] for n in j["notes"]], ["guest one", "guest two"], "notes after sign-up")
    check_eq([n["created"] for n in j["notes"]], [n["created"] for n in guest_notes],
             "created times after sign-up")
    # The guest session is gone: its cookie shows an empty list.
    g = ctx.browser()
    g.jar[ctx.cookie] = guest_sid
    check_eq(texts(g), [], "the old guest session's notes")


@case
def a_guests_notes_join_the_account_at_signin(ctx):
    b, name = signed_up(ctx)
    add(b, "from an earlier session")
    logout(b)
    home_anonymous(b, "after sign-out")
    check_eq(texts(b), [], "notes after sign-out")
    add(b, "written as a guest")
    b.login(name, PASSWORD)
    home_signed_in(b, name)
    # Notes live in a session: the new one has the guest's, not the old one's.
    check_eq(texts(b), ["written as a guest"], "notes after sign-in")


@case
def a_guest_with_twenty_notes_brings_all_and_no_more(ctx):
    b = ctx.browser()
    for i in range(NOTES_MAX):
        add(b, f"g{i}")
    add(b, "one too many", expect=409)
    name = new_name("nt")
    b.signup(name, PASSWORD)
    check_eq(texts(b), [f"g{i}" for i in range(NOTES_MAX)], "notes after sign-up")
    add(b, "still one too many", expect=409)


# --------------------------------------------------------------------------
# bad input

@case
def empty_text_is_400_and_adds_nothing(ctx):
    b = ctx.browser()
    for text in ("", "   ", "\n\t \r\n"):
        r = add(b, text, expect=400)
        check("A note needs some text." in r.body, f"no reason on the page: {excerpt(r.body, 600)}")
    r = b.post("/notes", {"csrf": token(b)})
    check_eq(r.status, 400, "POST /notes without text")
    check(ctx.cookie not in b.jar, "a refused note started a guest session")
    check_eq(texts(b), [], "notes")


@case
def text_over_500_bytes_is_400(ctx):
    b, _ = signed_up(ctx)
    add(b, "x" * TEXT_MAX)
    add(b, "é" * (TEXT_MAX // 2))                   # 500 bytes, 250 characters
    r = add(b, "x" * (TEXT_MAX + 1), expect=400)
    check("at most 500 bytes" in r.body, f"no reason on the page: {excerpt(r.body, 600)}")
    add(b, "€" * 167, expect=400)                   # 501 bytes, 167 characters
    check_eq([len(t.encode()) for t in texts(b)], [TEXT_MAX, TEXT_MAX], "kept notes' sizes")


@case
def text_that_is_not_utf8_is_400(ctx):
    b = ctx.browser()
    body = "text=%FF%FEbad&csrf=" + urllib.parse.quote(token(b))
    r = b.request("POST", "/notes", body=body,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    check_eq(r.status, 400, "POST /notes with bytes that are not UTF-8")
    check("UTF-8" in r.body, f"no reason on the page: {excerpt(r.body, 600)}")
    check_eq(texts(b), [], "notes")


@case
def control_characters_are_400_but_newlines_and_tabs_are_kept(ctx):
    b = ctx.browser()
    for text in ("a\x01b", "bell\x07", "del\x7f", "esc\x1b[31m"):
        r = add(b, text, expect=400)
        check("control characters" in r.body, f"{text!r}: no reason: {excerpt(r.body, 600)}")
    add(b, "line 1\r\nline 2\tend")
    check_eq(texts(b), ["line 1\r\nline 2\tend"], "notes")


@case
def a_bad_or_unknown_id_is_404(ctx):
    b, _ = signed_up(ctx)
    add(b, "only")
    real = api(b)["notes"][0]["id"]
    tok = token(b)
    for path in (f"/notes/{real + 1000}/delete", "/notes/0/delete",
                 "/notes/4294967296/delete", "/notes/99999999999999999999/delete",
                 "/notes/abc/delete", "/notes/-1/delete", f"/notes/0{real}/delete",
                 "/notes//delete", f"/notes/{real}/remove"):
        r = b.post(path, {"csrf": tok})
        check(r.status == 404, f"POST {path}: expected 404, got {r.describe()}")
    check_eq(texts(b), ["only"], "notes after the bad deletes")
    # A visitor without a session has no note to delete, and gets no session.
    v = ctx.browser()
    r = v.post(f"/notes/{real}/delete", {"csrf": token(v)})
    check_eq(r.status, 404, "a delete by a visitor without a session")
    check(ctx.cookie not in v.jar, "a refused delete started a guest session")


@case
def the_twenty_first_note_is_409(ctx):
    b, _ = signed_up(ctx)
    for i in range(NOTES_MAX):
        add(b, f"note {i}")
    r = b.get("/")
    check('action="/notes"' not in r.body and f">{NOTES_MAX}</span> of 20" in r.body,
          f"a full list still shows the form: {excerpt(r.body, 600)}")
    r = add(b, "the 21st", expect=409)
    check("delete one to add another" in r.body, f"no reason on the page: {excerpt(r.body, 600)}")
    check_eq(len(texts(b)), NOTES_MAX, "notes kept")
    delete(b, api(b)["notes"][0]["id"])
    add(b, "room again")
    check_eq(texts(b)[-1], "room again", "the last note")


@case
def a_post_without_the_csrf_token_is_403(ctx):
    b = ctx.browser()
    token(b)
    r = b.post("/notes", {"text": "forged"})
    check_eq(r.status, 403, "POST /notes without csrf")
    check_eq(texts(b), [], "notes")


@case
def a_guest_session_has_the_tiers_size_cap(ctx):
    """A guest's record is capped (SHOAL_GUEST_MAX_BYTES): long notes reach
    it before the 20th, and the tier answers 413; a user's session has no
    such cap."""
    cap = int(os.environ.get("SHOAL_GUEST_MAX_BYTES") or 4096)
    b = ctx.browser()
    n = 0
    while n < NOTES_MAX:
        r = b.post("/notes", {"text": "y" * TEXT_MAX, "csrf": token(b)})
        if r.status != 303:
            break
        n += 1
    check(r.status == 413 and n * TEXT_MAX <= cap,
          f"after {n} notes of {TEXT_MAX} bytes: expected 413 within {cap} bytes, "
          f"got {r.describe()}")
    check_eq(len(texts(b)), n, "notes kept")
    return f"413 after {n} notes of {TEXT_MAX} bytes (cap {cap} bytes)"


# --------------------------------------------------------------------------
# after the stack is down

@after_down
def worker_logs_are_json_lines(ctx):
    check_logs_are_json(ctx.log_files())


@after_down
def no_request_was_answered_500(ctx):
    """A misuse of the JSON writer or a template would show as a 500 in the
    workers' logs."""
    check_no_errors_logged(ctx.log_files())
