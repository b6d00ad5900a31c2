-- Moderation: manual timeouts survive a restart; audit-log filters of modlog_get use indexes.

CREATE TABLE timeouts (
    user_id TEXT PRIMARY KEY,
    until   REAL NOT NULL                   -- Unix seconds; the row is deleted when lifted
);

CREATE INDEX audit_log_by_actor ON audit_log(actor_id, time);
CREATE INDEX audit_log_by_target ON audit_log(target, time);
CREATE INDEX audit_log_by_action ON audit_log(action, time);
