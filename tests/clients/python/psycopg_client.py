#!/usr/bin/python3
"""psycopg 3 against MemorySql: remember/recall with server-side parameters, prepared statements, pipeline
mode, executemany, COPY, LISTEN/NOTIFY, rollback and an error mid-pipeline.

Usage: /usr/bin/python3 psycopg_client.py SCENARIO
The connection comes from MEMORYSQL_HOST, _PORT, _USER, _PASSWORD, _DATABASE (and _DIRECT_PORT for the
control that bypasses the proxy). Prints one JSON report on the last line of standard output; any error
exits with status 1 and its traceback, so the calling test fails with it.
"""
import json
import os
import sys
import threading
import time

import psycopg
from psycopg import errors

RECALL = "SELECT content, similarity, signals FROM recall(%s, k => %s)"

FACTS = [
    "Dana prefers window seats on long flights",
    "The quarterly report is due on the first Monday of April",
    "Backups of the billing database run every night at two",
    "The office cat is called Pixel and sleeps on the printer",
    "Lisbon is the city Dana usually flies from",
    "Standup meetings start at nine thirty sharp",
]

# Texts whose quoting and encoding must survive every path: the proxy embeds what it decodes from the SQL
# or the Bind, and the test compares the stored vector with the embedding of the text itself.
TRICKY = [
    "It's Zoë's \"café\" in Zürich — 東京 too",
    "A backslash \\ and a doubled '' quote and a $$ dollar",
    "Emoji are text too 🙂 and so is\ta tab",
]


def connect(direct=False, **kwargs):
    env = os.environ
    port = env["MEMORYSQL_DIRECT_PORT"] if direct else env["MEMORYSQL_PORT"]
    return psycopg.connect(host=env["MEMORYSQL_HOST"], port=port, user=env["MEMORYSQL_USER"],
                           password=env["MEMORYSQL_PASSWORD"], dbname=env["MEMORYSQL_DATABASE"],
                           connect_timeout=10, application_name="psycopg-client", **kwargs)


def rows(cursor):
    return [{"content": c, "similarity": s, "signals": list(sig)} for c, s, sig in cursor.fetchall()]


def remember_all(conn, texts):
    ids = []
    for text in texts:
        ids.append(str(conn.execute("CALL remember(%s, kind => %s)", (text, "fact")).fetchone()[0]))
    return ids


def scenario_parameters():
    """Server-side binding (extended protocol): CALL remember(%s, ...) and recall(%s, k => %s)."""
    with connect(autocommit=True) as conn:
        ids = remember_all(conn, FACTS[:3])
        tagged = conn.execute("CALL remember(%s, tags => %s, importance => %s::real)",
                              ("Dana's seat preference was confirmed by email", ["travel", "seat"], 0.8)).fetchone()[0]
        recalled = rows(conn.execute(RECALL, ("window seat on a flight", 3)))
        # The other rewritten routines: revise (a new version gets the proxy's vector) and reflect (recall inside).
        revised_text = "The quarterly report is now due on the second Monday of April"
        revised = conn.execute("CALL revise(%s, %s)", (ids[1], revised_text)).fetchone()[0]
        reflection = conn.execute("SELECT reflect(%s, k => %s, record => false)", ("Dana seat preference", 3)).fetchone()[0]
        return {"written": FACTS[:1] + FACTS[2:3] + ["Dana's seat preference was confirmed by email", revised_text],
                "ids": ids + [str(tagged)], "recall": recalled, "revised_id": str(revised),
                "reflect_signals": reflection.get("signals"), "reflect_sources": len(reflection.get("sources") or [])}


def scenario_prepared():
    """prepare=True, then auto-prepare after prepare_threshold: every execution has a different text."""
    with connect(autocommit=True) as conn:
        remember_all(conn, FACTS)
        explicit = []
        with conn.cursor() as cur:
            for text in FACTS[:3]:
                cur.execute(RECALL, (text, 1), prepare=True)
                explicit.append({"query": text, "recall": rows(cur)})
        conn.prepare_threshold = 2
        auto = []
        for text in FACTS[3:] + FACTS[:3]:
            auto.append({"query": text, "recall": rows(conn.execute("SELECT content, similarity, signals FROM recall(%s, k => 1)", (text,)))})
        prepared = [r[0] for r in conn.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql").fetchall()]
        return {"written": FACTS, "explicit": explicit, "auto": auto, "prepared_statements": prepared}


def scenario_pipeline():
    """Pipeline mode: several remember and a recall sent before one Sync."""
    texts = FACTS[:4]
    with connect(autocommit=True) as conn:
        with conn.pipeline() as pipeline:
            remembers = [conn.cursor().execute("CALL remember(%s)", (t,)) for t in texts]
            recall = conn.cursor().execute(RECALL, ("when do the billing database backups run", 2))
            count = conn.cursor().execute("SELECT count(*) FROM memory.memories")
            pipeline.sync()
            ids = [str(c.fetchone()[0]) for c in remembers]
            recalled = rows(recall)
            counted = count.fetchone()[0]
        # Prepared statements inside a pipeline: Parse (named) + Describe + Bind + Execute, queued before one Sync.
        conn.prepare_threshold = 0
        with conn.pipeline():
            cursors = [(t, conn.cursor().execute("SELECT content, similarity, signals FROM recall(%s, k => 1)", (t,))) for t in texts + texts]
        prepared_runs = [{"query": t, "recall": rows(c)} for t, c in cursors]
        prepared = [r[0] for r in conn.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql").fetchall()]
        return {"written": texts, "ids": ids, "recall": recalled, "count_in_pipeline": counted,
                "prepared_runs": prepared_runs, "prepared_statements": prepared}


def scenario_executemany():
    """executemany (psycopg pipelines it) of remember, then a recall."""
    texts = FACTS[2:6]
    with connect(autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany("CALL remember(%s, kind => %s, tags => %s)", [(t, "fact", ["batch"]) for t in texts])
            returned = cur.rowcount
        recalled = rows(conn.execute("SELECT content, similarity, signals FROM recall(%s, k => %s, tags => %s)",
                                     ("the cat sleeps on the printer", 2, ["batch"])))
        return {"written": texts, "rowcount": returned, "recall": recalled}


def scenario_server_cursor():
    """A named (server-side) cursor: DECLARE … CURSOR FOR a recall with parameters, then FETCH in pieces."""
    with connect() as conn:
        remember_all(conn, FACTS)
        conn.commit()
        with conn.cursor(name="recall_cursor") as cur:
            cur.itersize = 2
            cur.execute("SELECT content, similarity, signals FROM recall(%s, k => %s)", ("Dana flies from Lisbon and likes window seats", 5))
            fetched = [{"content": c, "similarity": s, "signals": list(sig)} for c, s, sig in cur]
        conn.commit()
        return {"written": FACTS, "recall": fetched}


def scenario_large_texts():
    """Texts of 150,000 characters: a Bind and a simple Query far larger than any socket read, rewritten whole."""
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()
    def long_text(seed, length=150_000):
        out, size, i = [], 0, seed
        while size < length + 1:
            out.append(words[(i * 7 + i // 3) % len(words)] + str(i % 97))
            size += len(out[-1]) + 1
            i += 1
        text = " ".join(out)[:length]
        return text[:-1] + "x" if text.endswith(" ") else text  # exactly `length` characters, nothing to trim
    bound, inlined = long_text(1), long_text(5000)
    with connect(autocommit=True) as conn:
        conn.execute("CALL remember(%s)", (bound,))
        psycopg.ClientCursor(conn).execute("CALL remember(%s)", (inlined,))
        remember_all(conn, FACTS[:2])
        runs = [{"query": bound, "recall": rows(conn.execute(RECALL, (bound, 1)))},
                {"query": inlined, "recall": rows(psycopg.ClientCursor(conn).execute(RECALL, (inlined, 1)))}]
        lengths = [r[0] for r in conn.execute("SELECT length(content) FROM memory.memories ORDER BY 1 DESC LIMIT 2").fetchall()]
        return {"written": [bound, inlined] + FACTS[:2], "runs": runs, "lengths": lengths}


def scenario_copy():
    """COPY out of a recall (params merged client-side: simple protocol), COPY in, then a recall again."""
    with connect(autocommit=True) as conn:
        remember_all(conn, FACTS[:4])
        copied = []
        with conn.cursor() as cur:
            with cur.copy("COPY (SELECT content, similarity, signals FROM recall(%s, k => 2)) TO STDOUT",
                          ("when are backups run",)) as copy:
                copy.set_types(["text", "real", "text[]"])
                for content, similarity, signals in copy.rows():
                    copied.append({"content": content, "similarity": similarity, "signals": list(signals)})
            cur.execute("CREATE TEMP TABLE inbox (line text)")
            with cur.copy("COPY inbox (line) FROM STDIN") as copy:
                for t in FACTS[4:]:
                    copy.write_row((t,))
            lines = [r[0] for r in cur.execute("SELECT line FROM inbox ORDER BY line").fetchall()]
        # The copied lines are remembered with parameters afterwards, on the same session.
        remember_all(conn, lines)
        after = rows(conn.execute(RECALL, ("standup meeting time", 1)))
        return {"written": FACTS[:4] + lines, "copy_out": copied, "copied_in": lines, "recall": after}


def scenario_notify():
    """LISTEN on one connection, NOTIFY from another and from itself, with memory calls in between."""
    with connect(autocommit=True) as listener, connect(autocommit=True) as sender:
        received = []
        listener.add_notify_handler(lambda n: received.append({"channel": n.channel, "payload": n.payload, "pid": n.pid}))
        listener.execute("LISTEN memsql_clients")
        ids = remember_all(sender, FACTS[:2])
        sender.execute("SELECT pg_notify('memsql_clients', %s)", ("remembered " + ids[0],))
        recalled = []
        deadline = time.monotonic() + 15
        while not any(r["payload"].startswith("remembered") for r in received) and time.monotonic() < deadline:
            recalled = rows(listener.execute(RECALL, ("window seats", 1)))  # running a query also reads pending notifications
            time.sleep(0.05)
        listener.execute("NOTIFY memsql_clients, 'self'")
        return {"written": FACTS[:2], "received": received, "listener_pid": listener.info.backend_pid,
                "sender_pid": sender.info.backend_pid, "recall": recalled, "expected_payload": "remembered " + ids[0]}


def scenario_rollback():
    """A remember inside a transaction that rolls back leaves nothing; the committed one stays."""
    kept = FACTS[0]
    undone = "This memory is rolled back and must not exist"
    with connect() as conn:  # not autocommit: psycopg opens a transaction
        conn.execute("CALL remember(%s)", (undone,))
        inside = rows(conn.execute(RECALL, ("rolled back memory", 5)))
        conn.rollback()
        conn.execute("CALL remember(%s)", (kept,))
        conn.commit()
        try:
            with conn.transaction():
                conn.execute("CALL remember(%s)", (undone,))
                raise psycopg.Rollback()
        except psycopg.Rollback:
            pass
        after = rows(conn.execute(RECALL, ("rolled back memory", 5)))
        conn.commit()
        return {"written": [kept], "rolled_back": undone, "recall_inside": inside, "recall_after": after}


def scenario_pipeline_error():
    """An error mid-pipeline aborts the rest of its sync block only; the session goes on."""
    first, lost, after = FACTS[0], "Remembered after the error in the same block, so aborted", FACTS[1]
    with connect(autocommit=True) as conn:
        outcome = {}
        try:
            with conn.pipeline() as pipeline:
                conn.execute("CALL remember(%s)", (first,))
                pipeline.sync()
                conn.execute(RECALL, ("anything", 0))  # k => 0 is invalid: 22023
                conn.execute("CALL remember(%s)", (lost,))
                pipeline.sync()
        except errors.InvalidParameterValue as e:
            outcome["error_sqlstate"] = e.sqlstate
            outcome["error_message"] = str(e).splitlines()[0]
        except errors.PipelineAborted as e:
            outcome["error_sqlstate"] = "pipeline aborted: " + str(e)
        with conn.pipeline():
            conn.execute("CALL remember(%s)", (after,))
            recalled = rows(conn.execute(RECALL, ("window seats", 2)))
        outcome.update({"written": [first, after], "lost": lost, "recall": recalled})
        return outcome


def scenario_client_side_binding():
    """ClientCursor merges the parameters into the SQL text: the proxy must decode the literals exactly."""
    with connect(autocommit=True) as conn:
        cur = psycopg.ClientCursor(conn)
        for text in TRICKY:
            cur.execute("CALL remember(%s)", (text,))
        runs = []
        for text in TRICKY:
            cur.execute("SELECT content, similarity, signals FROM recall(%s, k => 1)", (text,))
            runs.append({"query": text, "recall": rows(cur)})
        return {"written": TRICKY, "runs": runs, "sent_example": cur.mogrify("CALL remember(%s)", (TRICKY[1],))}


def scenario_binary_parameters():
    """Binary parameters (%b) and binary results: the proxy reads binary text values and keeps the formats straight."""
    texts = FACTS[:3] + TRICKY[:1]
    with connect(autocommit=True) as conn:
        cur = conn.cursor(binary=True)
        for text in texts:
            cur.execute("CALL remember(%b, importance => %b::real, tags => %b)", (text, 0.7, ["binary"]))
        runs = []
        for text in texts:
            cur.execute("SELECT content, similarity, signals FROM recall(%b, k => %b, tags => %b)", (text, 1, ["binary"]))
            runs.append({"query": text, "recall": rows(cur)})
        mixed = conn.cursor(binary=False)
        mixed.execute("SELECT content, similarity, signals FROM recall(%t, k => %b)", (texts[0], 1))
        runs.append({"query": texts[0], "recall": rows(mixed)})
        return {"written": texts, "runs": runs}


def scenario_blank_texts():
    """Empty and blank texts are bad input: the same error as PostgreSQL gives directly, and the session goes on."""
    attempts = [
        ("recall parameter ''", lambda c: c.execute(RECALL, ("", 1))),
        ("remember parameter '   '", lambda c: c.execute("CALL remember(%s)", ("   ",))),
        ("remember literal ''", lambda c: c.execute("CALL remember('')")),
        ("recall literal ' '", lambda c: c.execute("SELECT content FROM recall(' ', k => 1)")),
        ("prepared recall ''", lambda c: c.execute(RECALL, ("", 1), prepare=True)),
        ("remember parameter '???'", lambda c: c.execute("CALL remember(%s)", ("???",))),
        ("remember literal '🙂'", lambda c: c.execute("CALL remember('🙂')")),
    ]
    report = {}
    for target, direct in (("proxy", False), ("direct", True)):
        outcomes = []
        with connect(direct=direct, autocommit=True) as conn:
            for name, attempt in attempts:
                try:
                    attempt(conn)
                    outcomes.append({"call": name, "sqlstate": None})
                except psycopg.Error as e:
                    outcomes.append({"call": name, "sqlstate": e.sqlstate, "message": e.diag.message_primary})
            if not direct:
                remember_all(conn, FACTS[:1])
                report["recall"] = rows(conn.execute(RECALL, (FACTS[0], 1)))
        report[target] = outcomes
    report["written"] = FACTS[:1]
    return report


def scenario_latin1():
    """client_encoding LATIN1: the texts arrive in LATIN1 bytes, as literals and as parameters."""
    texts = ["Zoë's café in Zürich has crème brûlée", "Señora Müller prefers the façade room"]
    with connect(autocommit=True, client_encoding="latin1") as conn:
        encoding = conn.execute("SHOW client_encoding").fetchone()[0]
        psycopg.ClientCursor(conn).execute("CALL remember(%s)", (texts[0],))
        conn.execute("CALL remember(%s)", (texts[1],))
        recalled = rows(psycopg.ClientCursor(conn).execute(RECALL, ("café in Zürich", 2)))
        recalled_bound = rows(conn.execute(RECALL, ("façade room", 2)))
        stored = [r[0] for r in conn.execute("SELECT content FROM memory.memories ORDER BY created_at").fetchall()]
    # Switching during a session: a statement prepared (and rewritten) under UTF8, bound after SET client_encoding.
    switched = ["Prepared under UTF8, bound in LATIN1: Ærø and Öland", "Back in UTF8 — embedded by the proxy again"]
    with connect(autocommit=True) as conn:
        remember = "CALL remember(%s, kind => %s)"
        conn.execute(remember, ("Prepared while the connection spoke UTF8", "fact"), prepare=True)
        conn.execute("SET client_encoding = 'LATIN1'")
        conn.execute(remember, (switched[0], "fact"), prepare=True)
        conn.execute("RESET client_encoding")
        conn.execute(remember, (switched[1], "fact"), prepare=True)
        after = conn.execute("SHOW client_encoding").fetchone()[0]
    return {"client_encoding": encoding, "texts": texts, "stored": stored, "recall": recalled, "recall_bound": recalled_bound,
            "switched": switched, "encoding_after_reset": after, "utf8_texts": ["Prepared while the connection spoke UTF8", switched[1]]}


def scenario_scs_off():
    """standard_conforming_strings off: a backslash escapes in '…' literals, as PostgreSQL reads them then."""
    with connect(autocommit=True) as conn:
        conn.execute("SET standard_conforming_strings = off")
        conn.execute("SET escape_string_warning = off")
        # The server reads 'Dana\'s seat, by the window' as one literal: Dana's seat, by the window.
        conn.execute("CALL remember('Dana\\'s seat, by the window', kind => 'fact')")
        # … and '\\x77indow' as "window": read with backslashes as plain characters, the text would be another.
        conn.execute("CALL remember('Pixel sleeps by the \\x77indow')")
        psycopg.ClientCursor(conn).execute("CALL remember(%s)", ("A back\\slash and a 'quote', in the text",))
        recalled = rows(conn.execute("SELECT content, similarity, signals FROM recall('Dana\\'s seat', k => 2)"))
        stored = [r[0] for r in conn.execute("SELECT content FROM memory.memories ORDER BY created_at").fetchall()]
        conn.execute("RESET standard_conforming_strings")
        remember_all(conn, FACTS[:1])
        after = rows(conn.execute(RECALL, (FACTS[0], 1)))
    return {"stored": stored, "expected": ["Dana's seat, by the window", "Pixel sleeps by the window", "A back\\slash and a 'quote', in the text"],
            "recall": recalled, "recall_after_reset": after, "written": FACTS[:1]}


def scenario_direct_control():
    """The same recall through the proxy and directly to PostgreSQL: only the proxy supplies the vector."""
    with connect(autocommit=True) as conn:
        remember_all(conn, FACTS[:3])
        through = rows(conn.execute(RECALL, ("window seats on flights", 3)))
    with connect(direct=True, autocommit=True) as conn:
        direct = rows(conn.execute(RECALL, ("window seats on flights", 3)))
    return {"written": FACTS[:3], "recall": through, "direct": direct}


SCENARIOS = {name[len("scenario_"):]: f for name, f in globals().items() if name.startswith("scenario_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: psycopg_client.py " + "|".join(sorted(SCENARIOS)), file=sys.stderr)
        sys.exit(2)
    report = SCENARIOS[sys.argv[1]]()
    report["psycopg"] = psycopg.__version__
    report["libpq"] = psycopg.pq.version()
    print(json.dumps(report, default=str))
