"""Forward-only schema migrations, recorded by name in `_migrations`.

Each migration is a SQL script that runs once, in list order, inside its own
transaction (the connection is in autocommit mode; see `storage.store`). Append new
ones at the end; never edit one that has shipped. Metric columns of `snapshots`
are not here: ingest adds them (`m_<name>`) as files bring new metrics.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

Migration = tuple[str, str]

_INITIAL = """
        -- One row per account per snapshot date, exactly as ingested (canonical names).
        CREATE TABLE snapshots (
            account_id TEXT NOT NULL,
            as_of TEXT NOT NULL,                 -- YYYY-MM-DD
            name TEXT,
            owner_email TEXT,
            owner_slack_id TEXT,
            arr REAL,
            renewal_date TEXT,
            products TEXT,                       -- ';'-separated
            status TEXT,                         -- active / churned
            churned INTEGER,                     -- explicit label, NULL = not given
            upsold INTEGER,                      -- explicit label, NULL = not given
            UNIQUE (account_id, as_of)           -- a rowid table: wide rows append cheaply
        );
        CREATE INDEX snapshots_as_of ON snapshots (as_of);

        -- Latest known attributes of each account: what lookups and lists read.
        CREATE TABLE accounts (
            account_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_key TEXT NOT NULL,              -- casefolded name, for matching
            owner_email TEXT,
            owner_slack_id TEXT,
            arr REAL,
            renewal_date TEXT,
            products TEXT,
            status TEXT,
            first_as_of TEXT NOT NULL,
            last_as_of TEXT NOT NULL
        );
        CREATE INDEX accounts_name_key ON accounts (name_key);
        CREATE INDEX accounts_owner_email ON accounts (owner_email);
        CREATE INDEX accounts_owner_slack_id ON accounts (owner_slack_id);

        -- Every non-canonical column ever ingested, and what the models make of it.
        CREATE TABLE metrics (
            name TEXT PRIMARY KEY,               -- normalised name (column is m_<name>)
            source_name TEXT NOT NULL,           -- header as first seen
            kind TEXT NOT NULL CHECK (kind IN ('numeric', 'boolean', 'category', 'text')),
            in_model INTEGER NOT NULL,           -- 0 for free text / ids
            note TEXT,                           -- why it is left out, when it is
            first_seen TEXT NOT NULL
        );

        CREATE TABLE ingests (
            id INTEGER PRIMARY KEY,
            file TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            rows INTEGER NOT NULL,
            accounts INTEGER NOT NULL,
            first_as_of TEXT NOT NULL,
            last_as_of TEXT NOT NULL,
            ingested_at TEXT NOT NULL
        );

        -- Fitted pipelines, saved whole with what they were trained on and how they did.
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,                  -- churn / upsell
            version TEXT NOT NULL UNIQUE,
            trained_at TEXT NOT NULL,
            train_start TEXT,
            train_end TEXT,
            data_fingerprint TEXT NOT NULL,
            features TEXT NOT NULL,              -- JSON list
            params TEXT NOT NULL,                -- JSON
            metrics TEXT NOT NULL,               -- JSON (validation metrics, threshold, ...)
            lib_versions TEXT NOT NULL,          -- JSON
            provisional INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 0,
            blob BLOB NOT NULL                   -- the fitted Pipeline
        );
        CREATE INDEX models_kind_active ON models (kind, active);

        -- One score per account per snapshot date.
        CREATE TABLE scores (
            account_id TEXT NOT NULL,
            as_of TEXT NOT NULL,
            health_score REAL NOT NULL,          -- 0-100 = P(no churn within horizon)
            churn_probability REAL NOT NULL,
            renewal_index TEXT NOT NULL,
            upsell_probability REAL,
            upsell_index TEXT,
            segment_id INTEGER,
            drivers TEXT,                        -- JSON list, top factors down and up
            levels TEXT,                         -- JSON {metric: Low/Medium/High}
            churn_model TEXT NOT NULL,
            upsell_model TEXT,
            scored_at TEXT NOT NULL,
            PRIMARY KEY (account_id, as_of)
        ) WITHOUT ROWID;
        CREATE INDEX scores_as_of_renewal ON scores (as_of, renewal_index);
        CREATE INDEX scores_as_of_upsell ON scores (as_of, upsell_index);

        -- Leading Indicators: weight of each data component per model.
        CREATE TABLE indicators (
            model_version TEXT NOT NULL,
            component TEXT NOT NULL,
            weight REAL NOT NULL,                -- share, sums to 1 per model
            direction TEXT,                      -- plain words
            detail TEXT,                         -- JSON per-metric breakdown
            PRIMARY KEY (model_version, component)
        );

        CREATE TABLE segments (
            segment_id INTEGER NOT NULL,
            run TEXT NOT NULL,                   -- clustering run (model version it belongs to)
            name TEXT NOT NULL,
            size INTEGER NOT NULL,
            avg_arr REAL,
            top_products TEXT,                   -- JSON list
            churn_rate REAL,
            upsell_rate REAL,
            benchmarks TEXT NOT NULL,            -- JSON {metric: {low: x, high: y}}
            profile TEXT,                        -- JSON
            PRIMARY KEY (run, segment_id)
        );

        -- Data components (Health Score Features) as of the last scoring run.
        CREATE TABLE components (
            component TEXT PRIMARY KEY,
            columns TEXT NOT NULL,               -- JSON list of catalogue columns
            present TEXT NOT NULL,               -- JSON list of those found in the data
            connected INTEGER NOT NULL,          -- 1 = has data (✅), 0 = missing (❌)
            coverage REAL NOT NULL,              -- share of latest accounts with a value
            updated_at TEXT NOT NULL
        );

        -- What the bot posted about which accounts, so reactions can be traced.
        CREATE TABLE posted_messages (
            channel TEXT NOT NULL,
            ts TEXT NOT NULL,
            kind TEXT NOT NULL,
            account_ids TEXT NOT NULL,           -- JSON list
            posted_by TEXT,
            posted_at TEXT NOT NULL,
            PRIMARY KEY (channel, ts)
        );

        -- Prediction feedback: a flag and, once chosen, the outcome the user expects.
        CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            channel TEXT NOT NULL,
            message_ts TEXT NOT NULL,
            user_id TEXT NOT NULL,
            account_id TEXT,
            reaction TEXT NOT NULL,
            predicted_renewal_index TEXT,
            predicted_upsell_index TEXT,
            health_score REAL,
            model_version TEXT,
            expected_renewal_index TEXT,
            expected_upsell_index TEXT,
            thread_ts TEXT,
            created_at TEXT NOT NULL,
            answered_at TEXT,
            UNIQUE (channel, message_ts, user_id)
        );

        -- Slack user ids resolved from owner emails (users.lookupByEmail is Tier 3).
        CREATE TABLE slack_users (
            email TEXT PRIMARY KEY,
            user_id TEXT,
            error TEXT,
            looked_up_at TEXT NOT NULL
        );

        -- Exactly-once outbound messages (pulses, summaries, emails).
        CREATE TABLE deliveries (
            key TEXT PRIMARY KEY,                -- e.g. pulse:<owner>:<period>
            kind TEXT NOT NULL,
            recipient TEXT NOT NULL,
            period TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            channel TEXT,
            ts TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX deliveries_status ON deliveries (kind, status);

        CREATE TABLE job_runs (
            id INTEGER PRIMARY KEY,
            job TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            detail TEXT
        );
        CREATE INDEX job_runs_job ON job_runs (job, started_at);

        CREATE TABLE locks (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );

        -- Slack event ids already handled (Slack retries deliveries).
        CREATE TABLE seen_events (
            event_id TEXT PRIMARY KEY,
            seen_at TEXT NOT NULL
        );
"""


_SOURCE_SYNCS = """
        -- SQL sources (storage.sources): when the last successful sync of each started,
        -- which is what :last_sync in its query is bound to next time.
        CREATE TABLE source_syncs (
            source TEXT PRIMARY KEY,             -- the source's name, or sql:<hash> of an ad-hoc query
            label TEXT NOT NULL,
            last_sync TEXT NOT NULL,             -- ISO 8601 UTC
            rows INTEGER NOT NULL,               -- rows the query returned
            fingerprint TEXT,                    -- of the result (as ingests.sha256)
            synced_at TEXT NOT NULL
        );
"""

_CRM_PUSHES = """
        -- CRM write-back (storage.crm_ledger): the value each CRM last acknowledged per
        -- account and field, so a push sends only what changed and nothing twice.
        CREATE TABLE crm_pushes (
            destination TEXT NOT NULL,           -- hubspot / salesforce
            account_id TEXT NOT NULL,
            field TEXT NOT NULL,                 -- the CRM's field (property) name
            value TEXT NOT NULL,                 -- JSON
            pushed_at TEXT NOT NULL,
            PRIMARY KEY (destination, account_id, field)
        ) WITHOUT ROWID;
"""

_SNOOZES = """
        -- Accounts left out of their owner's pulse and the movement sections for a while
        -- (storage.snoozes): until the date, or until they move two categories.
        CREATE TABLE snoozes (
            account_id TEXT PRIMARY KEY,
            until TEXT NOT NULL,                 -- YYYY-MM-DD: snoozed through the day before
            renewal_index TEXT,                  -- its category when snoozed
            snoozed_by TEXT,                     -- Slack user id (or owner email in the console)
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
"""

_CUSTOMER_SINCE = """
        -- When the account became a customer (data contract, optional): true tenure.
        ALTER TABLE snapshots ADD COLUMN customer_since TEXT;   -- YYYY-MM-DD
"""

_FEEDBACK_NOTE = """
        -- The flag modal's optional note (what the user knows that the model does not).
        ALTER TABLE feedback ADD COLUMN note TEXT;
"""


_LABEL_COUNTS = """
        -- The book's outcome-label counts per snapshot date (scoring.book_labels), so the
        -- summary after an ingest recomputes only the dates the new rows can change.
        CREATE TABLE label_counts (
            horizon_days INTEGER NOT NULL,
            upsell_growth REAL NOT NULL,
            as_of TEXT NOT NULL,
            rows INTEGER NOT NULL,
            churn_known INTEGER NOT NULL,
            churned INTEGER NOT NULL,
            upsell_known INTEGER NOT NULL,
            upsold INTEGER NOT NULL,
            last_ingest INTEGER NOT NULL,        -- ingests.id the counts include
            PRIMARY KEY (horizon_days, upsell_growth, as_of)
        ) WITHOUT ROWID;
"""


_PREDICTION_LEDGER = """
        -- Live predictions: each (account, as_of) scored by a model that had not seen its
        -- outcome, as it was shown when made; the outcome is filled in once the horizon
        -- has passed. `/outcome accuracy` reads only this and the models' backtests.
        CREATE TABLE prediction_ledger (
            account_id TEXT NOT NULL,
            as_of TEXT NOT NULL,
            churn_model TEXT,
            upsell_model TEXT,
            churn_probability REAL,
            health_score REAL,
            renewal_index TEXT,
            upsell_probability REAL,
            upsell_index TEXT,
            recorded_at TEXT NOT NULL,
            churned INTEGER,              -- NULL until the outcome is known
            upsold INTEGER,
            resolved_at TEXT,
            PRIMARY KEY (account_id, as_of)
        );
        CREATE INDEX prediction_ledger_open ON prediction_ledger (churned, as_of);
"""


# Each current account's latest score carries its previous period re-scored by the same
# model, the movement between the two (JSON: directions and reasons) and what data was
# missing (JSON: confidence, gaps); written by scoring, NULL on older rows.
_SCORE_CONTEXT = """
        ALTER TABLE scores ADD COLUMN previous_as_of TEXT;
        ALTER TABLE scores ADD COLUMN previous_health_score REAL;
        ALTER TABLE scores ADD COLUMN previous_renewal_index TEXT;
        ALTER TABLE scores ADD COLUMN previous_upsell_index TEXT;
        ALTER TABLE scores ADD COLUMN movement TEXT;
        ALTER TABLE scores ADD COLUMN data_gaps TEXT;
"""


_SCORES_CHURN_INDEX = """
        -- The book's average churn probability on a date (every card says it) from the
        -- index alone: about 100 ms -> 7 ms at 100,000 accounts.
        CREATE INDEX IF NOT EXISTS scores_as_of_churn ON scores (as_of, churn_probability);
"""


# One index for both: a date's accounts by Renewal Index (lists) and the date's average
# churn probability (every card) read from the index alone. A first scoring rebuilds
# every secondary index of `scores` after its rows (`storage.bulk`); two instead of
# three saves about a third of that (4 s of 12 at 1.6M rows).
_SCORES_RENEWAL_CHURN_INDEX = """
        DROP INDEX IF EXISTS scores_as_of_churn;
        DROP INDEX IF EXISTS scores_as_of_renewal;
        CREATE INDEX scores_as_of_renewal_churn ON scores (as_of, renewal_index, churn_probability);
"""


# A Leading Indicator row keeps the directions its model found for each metric, so a run
# that reuses the model gives every metric the same good/bad sense as the run that
# trained it (before: a reused model's senses came from that run's accounts alone).
_INDICATOR_SIGNS = """
        ALTER TABLE indicators ADD COLUMN signs TEXT;   -- JSON {metric: 1 more raises, -1 lowers, 0 flat}
"""


MIGRATIONS: list[Migration] = [
    ("0001_initial", _INITIAL),
    ("0002_source_syncs", _SOURCE_SYNCS),
    ("0003_crm_pushes", _CRM_PUSHES),
    ("0004_snoozes", _SNOOZES),
    ("0005_customer_since", _CUSTOMER_SINCE),
    ("0006_feedback_note", _FEEDBACK_NOTE),
    ("0007_label_counts", _LABEL_COUNTS),
    ("0008_prediction_ledger", _PREDICTION_LEDGER),
    ("0009_score_context", _SCORE_CONTEXT),
    ("0010_scores_churn_index", _SCORES_CHURN_INDEX),
    ("0011_scores_renewal_churn_index", _SCORES_RENEWAL_CHURN_INDEX),
    ("0012_indicator_signs", _INDICATOR_SIGNS),
]


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    applied = []
    for name, script in MIGRATIONS:
        if name in done:
            continue
        # executescript() would COMMIT an open transaction first, so BEGIN is part of it.
        try:
            conn.executescript("BEGIN IMMEDIATE;\n" + script)
            conn.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM _migrations").fetchone()[0]
