"""docs/access.md, run as written against a real `pulse serve` on the embedded default:
an owner invited, accepting and signing in; a member invited and removed; a key that can
only mint tokens, refused elsewhere and revoked; signing out; the audit log of it all;
and a platform admin made with `pulse create-admin` in the server's DATA_DIR."""

from __future__ import annotations

from pathlib import Path

from tests.support.docs import DOCS, run_page, running_pulse_serve


def test_access_guide_runs_as_written(tmp_path: Path) -> None:
    # run_page runs the page in tmp_path, where the server's DATA_DIR (./data) is too:
    # the page's `pulse create-admin` writes to the database the server reads.
    with running_pulse_serve(tmp_path, USAGE_FLUSH_SECONDS="1") as server:
        result = run_page(DOCS / "access.md", server, tmp_path)
    out = result.stdout
    assert "invited olga@acme.example owner invited\n" in out
    assert "too short: 400 password\nactive\nused twice: 400 invalid_invitation\n" in out
    assert "signed in as owner until " in out
    assert "wrong password: 401 invalid_sign_in\nunknown email: 401 invalid_sign_in\n" in out
    assert "  olga@acme.example owner active\n  max@acme.example member active\n" in out
    assert "member writes: 403\n" in out
    assert "remove the last owner: 409 last_owner\n" in out
    assert "removed member's token: 401\n" in out
    assert "mint a token: 201\n" in out
    assert "list rooms: 403 insufficient_scope: " in out and "rooms:read" in out
    assert "  primary every scope last used: None\n" in out  # never used on the page
    assert "  join service ['tokens:create'] last used: just now\n" in out
    assert "after revoking: 401\n" in out
    assert "after signing out: 401\n" in out
    assert "the admin sees ['Acme', 'Globex']\n" in out
    log = out[out.index("  organization.created") : out.index("the admin sees")]
    assert log.splitlines() == [
        "  organization.created organization by token dev-admin",
        "  user.invited user by token dev-admin",
        "  user.invite_accepted user by user olga@acme.example",
        "  user.signed_in user by user olga@acme.example",
        "  user.sign_in_failed user by user olga@acme.example",
        "  user.invited user by user olga@acme.example",
        "  user.invite_accepted user by user max@acme.example",
        "  user.signed_in user by user max@acme.example",
        "  user.removed user by user olga@acme.example",
        "  project.created project by user olga@acme.example",
        "  key.created key by user olga@acme.example",
        "  key.revoked key by user olga@acme.example",
        "  user.signed_out user by user olga@acme.example",
        "  user.signed_in user by user olga@acme.example",
    ]
    # Whatever the page typed as a password, no answer it printed repeats it.
    for password in ("purple otters juggle at dawn", "hunter2", "a member's own pass phrase"):
        assert password not in out
