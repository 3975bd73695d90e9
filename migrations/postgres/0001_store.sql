-- The tenant-scoped store (src/store/), PostgreSQL. Every table is keyed by
-- (provider, tenant, ...): the store binds both to every statement it issues.

-- The namespace each tenant's rows were written under (the namespace guard).
CREATE TABLE tenant_namespaces (
    provider  TEXT NOT NULL,
    tenant    TEXT NOT NULL,
    namespace TEXT NOT NULL,
    PRIMARY KEY (provider, tenant)
);

CREATE TABLE messages (
    provider    TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    namespace   TEXT    NOT NULL,
    foreign_id  TEXT    NOT NULL,
    channel_id  TEXT    NOT NULL,
    guild_id    TEXT,
    author_id   TEXT    NOT NULL,
    author_name TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    created_ms  BIGINT NOT NULL,
    edited_ms   BIGINT,
    deleted_ms  BIGINT,
    PRIMARY KEY (provider, tenant, foreign_id)
);
CREATE INDEX messages_by_channel ON messages (provider, tenant, channel_id, created_ms);

-- One row per distinct edit (keyed by its edit time, or its new content when the
-- provider gives no time), holding the content it replaced.
CREATE TABLE message_edits (
    provider    TEXT    NOT NULL,
    tenant      TEXT    NOT NULL,
    foreign_id  TEXT    NOT NULL,
    edit_key    TEXT    NOT NULL,
    old_content TEXT    NOT NULL,
    new_content TEXT    NOT NULL,
    edited_ms   BIGINT,
    PRIMARY KEY (provider, tenant, foreign_id, edit_key)
);

CREATE TABLE attachments (
    provider     TEXT    NOT NULL,
    tenant       TEXT    NOT NULL,
    namespace    TEXT    NOT NULL,
    foreign_id   TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT,
    size         BIGINT NOT NULL,
    url          TEXT    NOT NULL,
    sha256       TEXT,
    PRIMARY KEY (provider, tenant, foreign_id)
);

-- Distinct attachment bytes per tenant: identical bytes are one blob, however many
-- attachments carry them.
CREATE TABLE blobs (
    provider TEXT    NOT NULL,
    tenant   TEXT    NOT NULL,
    sha256   TEXT    NOT NULL,
    size     BIGINT NOT NULL,
    refs     BIGINT NOT NULL,
    PRIMARY KEY (provider, tenant, sha256)
);

CREATE TABLE cursors (
    provider   TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (provider, tenant, name)
);

-- Vectors as little-endian f32 bytes; `dim` floats each.
CREATE TABLE embeddings (
    provider   TEXT    NOT NULL,
    tenant     TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    foreign_id TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    dim        BIGINT NOT NULL,
    vector     BYTEA   NOT NULL,
    PRIMARY KEY (provider, tenant, kind, foreign_id, model)
);
