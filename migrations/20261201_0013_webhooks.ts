import type { Knex } from 'knex';

/**
 * Webhooks (issue 13):
 * - `webhook_endpoints`: where events are sent, which types, and the signing secret encrypted with
 *   AES-256-GCM (src/webhooks/secrets.ts). The lease columns let one server at a time deliver an endpoint's
 *   events, which keeps them in order across servers (src/webhooks/worker.ts).
 * - `webhook_deliveries`: the outbox. One row per event and endpoint, written in the transaction of the change
 *   (src/webhooks/outbox.ts), then the delivery log of that endpoint. A redelivery is a new row with the same
 *   message id.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhook_endpoints', (t) => {
    t.increments('id');
    t.string('url', 2000).notNullable();
    t.string('description', 500).notNullable().defaultTo('');
    /** JSON array of event types. */
    t.text('event_types').notNullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    /** `v1.<iv>.<ciphertext>.<tag>` (base64url): the secret is needed for HMAC, so it cannot be hashed. */
    t.string('secret_sealed', 255).notNullable();
    t.bigInteger('secret_rotated_at').notNullable();
    t.integer('consecutive_failures').notNullable().defaultTo(0);
    /** Set when the failures reached the threshold; cleared by the next success. */
    t.bigInteger('failing_since').nullable();
    t.string('last_error', 500).nullable();
    /** The server delivering this endpoint's events holds the lease until `lease_until` (epoch ms). */
    t.string('lease_token', 64).nullable();
    t.bigInteger('lease_until').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.increments('id');
    // No foreign key: a server whose subscription cache still lists an endpoint removed meanwhile must not fail
    // the change it records (its rows are swept, src/webhooks/worker.ts), nor lock the endpoint row to insert.
    t.integer('endpoint_id').unsigned().notNullable();
    /** The `webhook-id` header: one per event, kept by retries and redeliveries so receivers can deduplicate. */
    t.string('message_id', 64).notNullable();
    t.string('event_type', 64).notNullable();
    t.text('payload', 'mediumtext').notNullable();
    /** pending → delivered, or failed after the last attempt. */
    t.string('status', 16).notNullable();
    t.integer('attempts').notNullable().defaultTo(0);
    t.bigInteger('next_attempt_at').notNullable();
    t.integer('last_status_code').nullable();
    t.string('last_error', 500).nullable();
    t.bigInteger('last_attempt_at').nullable();
    t.bigInteger('delivered_at').nullable();
    t.integer('redelivery_of').unsigned().nullable();
    t.bigInteger('created_at').notNullable();
    t.index(['endpoint_id', 'status', 'id']);
    t.index(['status', 'endpoint_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('webhook_deliveries');
  await knex.schema.dropTableIfExists('webhook_endpoints');
}
