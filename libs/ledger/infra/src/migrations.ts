import { type Kysely, sql } from 'kysely';
import type { Migration } from 'kysely/migration';

// The ledger's write side lives in PostgreSQL functions so that one statement checks
// idempotency, moves balances under their row locks and appends the events to the event
// store, atomically, for a whole batch of requests. Balances are integers (micro-dollars); a
// customer account can never have less than it holds (the UPDATE's condition refuses it, and a
// CHECK backs it up).

/**
 * ledger_apply: applies many requests in one transaction (one commit for all), each through
 * ledger_apply_one, gathering each posted request's events (`gather`, from v_result) and
 * appending them (`append`, from v_events) in one es_append call. Outcomes in the requests' order.
 */
const ledgerApply = (gather: string, append: string, check = '') => `CREATE OR REPLACE FUNCTION ledger_apply(p_requests jsonb, p_events jsonb) RETURNS text[] LANGUAGE plpgsql AS $$
        DECLARE
          v_result jsonb;
          v_outcomes text[] := '{}';
          v_events jsonb := '[]'::jsonb;
        BEGIN
          FOR i IN 0 .. jsonb_array_length(p_requests) - 1 LOOP${check}
            v_result := ledger_apply_one(p_requests->i, p_events->i);
            v_outcomes := v_outcomes || (v_result->>'outcome');
            IF v_result ? 'event' THEN v_events := v_events || ${gather}; END IF;
          END LOOP;
          ${append}
          RETURN v_outcomes;
        END $$`;

/** As first made: each request's events to its own stream. */
const APPLY_PER_STREAM = ledgerApply(`jsonb_build_array(v_result->'event')`, `IF jsonb_array_length(v_events) > 0 THEN PERFORM es_append(v_events); END IF;`);

/** ledger_apply_one as first made (2026-11-23); later versions are derived from this text. */
const APPLY_ONE = `        -- Applies one request (p) inside the caller's transaction and returns its outcome
        -- ('posted', 'duplicate', 'mismatch', or a refusal: 'VL001' not enough money, 'VL002'
        -- unknown hold, 'VL003' hold already closed, 'VL004' capture above the hold) with the
        -- event to append for a posted one. A refusal leaves nothing behind.
        CREATE FUNCTION ledger_apply_one(p jsonb, p_event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
        DECLARE
          v_kind text := p->>'kind';
          v_id text := p->>'id';
          v_amount bigint := coalesce((p->>'amount')::bigint, 0);
          v_old ledger_entries;
          v_hold ledger_entries;
          v_type text;
          v_data jsonb;
          v_refusal text;
          v_shard smallint := abs(hashtext(p->>'id')) % 16;
          v_owed bigint := 0;
          v_extra jsonb := '[]'::jsonb;
        BEGIN
          -- The id is taken first and once. A concurrent twin in another transaction waits
          -- here for the first to commit (then it is a duplicate) or roll back (then it goes on).
          INSERT INTO ledger_entries (entry_id, kind, debit, credit, amount, hold_id, status, expires_at, tenant_id, resource, description)
          VALUES (v_id, v_kind, coalesce(p->>'debit', ''), coalesce(p->>'credit', ''), v_amount, p->>'holdId',
                  CASE WHEN v_kind = 'hold' THEN 'pending' END, (p->>'expiresAt')::timestamptz,
                  coalesce(ledger_tenant(nullif(p->>'debit', '')), ledger_tenant(nullif(p->>'credit', ''))),
                  p->>'resource', coalesce(p->>'description', ''))
          ON CONFLICT (entry_id) DO NOTHING;
          IF NOT FOUND THEN
            SELECT * INTO v_old FROM ledger_entries WHERE entry_id = v_id;
            IF v_old.kind = v_kind AND (
                 (v_kind IN ('transfer', 'hold', 'charge') AND v_old.debit = p->>'debit' AND v_old.credit = p->>'credit' AND v_old.amount = v_amount)
              OR (v_kind IN ('capture', 'release', 'expire') AND v_old.hold_id = p->>'holdId' AND (v_kind <> 'capture' OR v_old.amount = v_amount))) THEN
              RETURN jsonb_build_object('outcome', 'duplicate');
            END IF;
            RETURN jsonb_build_object('outcome', 'mismatch');
          END IF;

          IF v_kind = 'charge' THEN
            RETURN ledger_charge(p, p_event);
          ELSIF v_kind = 'transfer' THEN
            IF NOT ledger_pair(p->>'debit', p->>'credit', v_amount, 0, v_shard) THEN v_refusal := 'VL001'; END IF;
            v_type := 'TransferPosted';
            v_data := jsonb_build_object('transferId', v_id, 'debit', p->>'debit', 'credit', p->>'credit', 'amount', v_amount,
                        'tenantId', coalesce(ledger_tenant(p->>'debit'), ledger_tenant(p->>'credit')), 'resource', p->'resource',
                        'description', coalesce(p->>'description', ''), 'at', p_event->>'occurred_at');
            -- Money coming in from outside (a top-up, a voucher) pays what the organization owes first.
            IF v_refusal IS NULL AND ledger_kind(p->>'credit') = 'customer' AND ledger_kind(p->>'debit') = 'system' THEN
              SELECT -coalesce(sum(balance), 0) INTO v_owed FROM ledger_accounts WHERE account_id = 'arrears:' || ledger_tenant(p->>'credit');
              IF v_owed > 0 THEN
                v_owed := least(v_owed, v_amount);
                PERFORM ledger_pair(p->>'credit', 'arrears:' || ledger_tenant(p->>'credit'), v_owed, 0, v_shard);
                v_extra := jsonb_build_array(jsonb_build_object(
                  'event_id', md5('ledger:' || v_id || ':arrears')::uuid, 'occurred_at', p_event->>'occurred_at', 'type', 'TransferPosted', 'schema_version', 1,
                  'data', jsonb_build_object('transferId', v_id || ':arrears', 'debit', p->>'credit', 'credit', 'arrears:' || ledger_tenant(p->>'credit'),
                            'amount', v_owed, 'tenantId', ledger_tenant(p->>'credit'), 'resource', NULL, 'description', 'arrears paid from ' || v_id,
                            'at', p_event->>'occurred_at'),
                  'metadata', (p_event->'metadata') || jsonb_build_object('tenantId', ledger_tenant(p->>'credit'))));
              END IF;
            END IF;
          ELSIF v_kind = 'hold' THEN
            IF NOT ledger_move(p->>'debit', 0, v_amount, v_shard) THEN v_refusal := 'VL001'; END IF;
            v_type := 'HoldPlaced';
            v_data := jsonb_build_object('transferId', v_id, 'debit', p->>'debit', 'credit', p->>'credit', 'amount', v_amount,
                        'tenantId', ledger_tenant(p->>'debit'), 'resource', p->'resource', 'description', coalesce(p->>'description', ''),
                        'expiresAt', p->>'expiresAt', 'at', p_event->>'occurred_at');
          ELSE
            SELECT * INTO v_hold FROM ledger_entries WHERE entry_id = p->>'holdId' AND kind = 'hold' FOR UPDATE;
            IF v_kind <> 'capture' THEN v_amount := 0; END IF;
            IF NOT FOUND THEN v_refusal := 'VL002';
            ELSIF v_hold.status <> 'pending' THEN v_refusal := 'VL003';
            ELSIF v_amount > v_hold.amount THEN v_refusal := 'VL004';
            ELSIF NOT ledger_pair(v_hold.debit, v_hold.credit, v_amount, -v_hold.amount, v_shard) THEN v_refusal := 'VL001';
            ELSE
              UPDATE ledger_entries SET status = CASE v_kind WHEN 'capture' THEN 'captured' WHEN 'release' THEN 'released' ELSE 'expired' END
               WHERE entry_id = v_hold.entry_id;
              UPDATE ledger_entries SET debit = v_hold.debit, credit = v_hold.credit, amount = v_amount, tenant_id = v_hold.tenant_id, resource = v_hold.resource
               WHERE entry_id = v_id;
              v_type := 'HoldClosed';
              v_data := jsonb_build_object('transferId', v_id, 'holdId', v_hold.entry_id, 'debit', v_hold.debit, 'credit', v_hold.credit,
                          'held', v_hold.amount, 'captured', v_amount,
                          'how', CASE v_kind WHEN 'capture' THEN 'captured' WHEN 'release' THEN 'released' ELSE 'expired' END,
                          'tenantId', v_hold.tenant_id, 'resource', v_hold.resource, 'at', p_event->>'occurred_at');
            END IF;
          END IF;

          IF v_refusal IS NOT NULL THEN
            -- Nothing moved (a refused move changes no row); the id is given back.
            DELETE FROM ledger_entries WHERE entry_id = v_id;
            RETURN jsonb_build_object('outcome', v_refusal);
          END IF;
          RETURN jsonb_build_object('outcome', 'posted', 'event', jsonb_build_object(
            'stream_id', 'ledger:transfer:' || v_id, 'expected_version', 0, 'check_ids', true,
            'events', jsonb_build_array(p_event || jsonb_build_object('type', v_type, 'schema_version', 1, 'data', v_data,
                        'metadata', (p_event->'metadata') || jsonb_build_object('tenantId', v_data->>'tenantId'))) || v_extra));
        END $$;

`;

export const ledgerMigrations: Record<string, Migration> = {
  '2026-11-23T0300-ledger': {
    async up(db: Kysely<any>) {
      // System accounts (revenue, deposits, …) take part in most transfers; their balance is
      // spread over 16 shard rows so that transfers do not queue on one row lock. Customer and
      // arrears accounts have one row (shard 0): their balance check needs it.
      await sql`CREATE TABLE ledger_accounts (
        account_id  text NOT NULL,
        shard       smallint NOT NULL DEFAULT 0,
        kind        text NOT NULL,
        tenant_id   text,
        balance     bigint NOT NULL DEFAULT 0,
        held        bigint NOT NULL DEFAULT 0,
        PRIMARY KEY (account_id, shard),
        CONSTRAINT ledger_customer_covers_holds CHECK (kind <> 'customer' OR (held >= 0 AND balance >= held))
      )`.execute(db);
      // The journal: one row per request id (transfer, hold, capture, release, expire), so each applies once.
      await sql`CREATE TABLE ledger_entries (
        entry_id     text PRIMARY KEY,
        kind         text NOT NULL,
        debit        text NOT NULL,
        credit       text NOT NULL,
        amount       bigint NOT NULL,
        hold_id      text,
        status       text,
        expires_at   timestamptz,
        tenant_id    text,
        resource     text,
        description  text NOT NULL DEFAULT '',
        created_at   timestamptz NOT NULL DEFAULT now()
      )`.execute(db);
      await sql`CREATE INDEX ledger_pending_holds ON ledger_entries (expires_at) WHERE kind = 'hold' AND status = 'pending'`.execute(db);
      await sql
        .raw(
          `
        CREATE FUNCTION ledger_kind(a text) RETURNS text IMMUTABLE LANGUAGE sql AS $$
          SELECT CASE WHEN a LIKE 'cust:%' THEN 'customer' WHEN a LIKE 'arrears:%' THEN 'arrears' ELSE 'system' END $$;

        CREATE FUNCTION ledger_tenant(a text) RETURNS text IMMUTABLE LANGUAGE sql AS $$
          SELECT CASE WHEN a LIKE 'sys:%' THEN NULL ELSE substr(a, strpos(a, ':') + 1) END $$;

        -- Adds to an account's balance and held amounts (opening it on first use); false if a
        -- customer account would then hold more than it has.
        CREATE FUNCTION ledger_move(p_account text, p_balance bigint, p_held bigint, p_shard smallint) RETURNS boolean LANGUAGE plpgsql AS $$
        DECLARE
          v_shard smallint := CASE WHEN ledger_kind(p_account) = 'system' THEN p_shard ELSE 0 END;
        BEGIN
          UPDATE ledger_accounts SET balance = balance + p_balance, held = held + p_held
           WHERE account_id = p_account AND shard = v_shard AND (kind <> 'customer' OR (held + p_held >= 0 AND balance + p_balance >= held + p_held));
          IF FOUND THEN RETURN true; END IF;
          INSERT INTO ledger_accounts (account_id, shard, kind, tenant_id) VALUES (p_account, v_shard, ledger_kind(p_account), ledger_tenant(p_account))
            ON CONFLICT DO NOTHING;
          UPDATE ledger_accounts SET balance = balance + p_balance, held = held + p_held
           WHERE account_id = p_account AND shard = v_shard AND (kind <> 'customer' OR (held + p_held >= 0 AND balance + p_balance >= held + p_held));
          RETURN FOUND;
        END $$;

        -- Moves money from one account to another (and changes the debit's held amount), taking
        -- the two row locks in account order so that crossing transfers cannot deadlock.
        CREATE FUNCTION ledger_pair(p_debit text, p_credit text, p_amount bigint, p_held bigint, p_shard smallint) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
          IF p_debit < p_credit THEN
            IF NOT ledger_move(p_debit, -p_amount, p_held, p_shard) THEN RETURN false; END IF;
            IF p_amount <> 0 THEN PERFORM ledger_move(p_credit, p_amount, 0, p_shard); END IF;
            RETURN true;
          END IF;
          IF p_amount <> 0 THEN PERFORM ledger_move(p_credit, p_amount, 0, p_shard); END IF;
          IF ledger_move(p_debit, -p_amount, p_held, p_shard) THEN RETURN true; END IF;
          -- Refused: take the credit back, so a refusal leaves every balance as it was.
          IF p_amount <> 0 THEN PERFORM ledger_move(p_credit, -p_amount, 0, p_shard); END IF;
          RETURN false;
        END $$;

        -- A charge (kind 'charge'): money for usage, taken first from the resource's hold (which
        -- stays open with what is left) and the rest from what the customer has available. Called
        -- by ledger_apply_one once the id is taken.
        CREATE FUNCTION ledger_charge(p jsonb, p_event jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
        DECLARE
          v_id text := p->>'id';
          v_amount bigint := (p->>'amount')::bigint;
          v_hold ledger_entries;
          v_take bigint := 0;
          v_shard smallint := abs(hashtext(p->>'id')) % 16;
          v_data jsonb;
        BEGIN
          IF p->>'holdId' IS NOT NULL THEN
            SELECT * INTO v_hold FROM ledger_entries WHERE entry_id = p->>'holdId' AND kind = 'hold' AND debit = p->>'debit' FOR UPDATE;
            IF FOUND AND v_hold.status = 'pending' THEN v_take := least(v_amount, v_hold.amount); END IF;
          END IF;
          IF NOT ledger_pair(p->>'debit', p->>'credit', v_amount, -v_take, v_shard) THEN
            DELETE FROM ledger_entries WHERE entry_id = v_id;
            RETURN jsonb_build_object('outcome', 'VL001');
          END IF;
          IF v_take > 0 THEN UPDATE ledger_entries SET amount = amount - v_take WHERE entry_id = v_hold.entry_id; END IF;
          v_data := jsonb_build_object('transferId', v_id, 'debit', p->>'debit', 'credit', p->>'credit', 'amount', v_amount,
                      'holdId', p->'holdId', 'fromHold', v_take, 'tenantId', ledger_tenant(p->>'debit'), 'resource', p->'resource',
                      'description', coalesce(p->>'description', ''), 'at', p_event->>'occurred_at');
          RETURN jsonb_build_object('outcome', 'posted', 'event', jsonb_build_object(
            'stream_id', 'ledger:transfer:' || v_id, 'expected_version', 0, 'check_ids', true,
            'events', jsonb_build_array(p_event || jsonb_build_object('type', 'ChargePosted', 'schema_version', 1, 'data', v_data,
                        'metadata', (p_event->'metadata') || jsonb_build_object('tenantId', v_data->>'tenantId')))));
        END $$;

${APPLY_ONE}        -- Applies many requests in one transaction (one commit for all) and appends their
        -- events in one es_append call. Outcomes come back in the requests' order.
${APPLY_PER_STREAM};
      `,
        )
        .execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP FUNCTION IF EXISTS ledger_apply(jsonb, jsonb); DROP FUNCTION IF EXISTS ledger_apply_one(jsonb, jsonb); DROP FUNCTION IF EXISTS ledger_charge(jsonb, jsonb); DROP FUNCTION IF EXISTS ledger_pair(text, text, bigint, bigint, smallint); DROP FUNCTION IF EXISTS ledger_move(text, bigint, bigint, smallint);
        DROP FUNCTION IF EXISTS ledger_tenant(text); DROP FUNCTION IF EXISTS ledger_kind(text);
        DROP TABLE IF EXISTS ledger_entries, ledger_accounts`.execute(db);
    },
  },
  '2026-11-23T0400-ledger-read-models-and-vouchers': {
    async up(db: Kysely<any>) {
      // Read models, projected from the ledger's events (rebuildable from position 0).
      await sql`CREATE TABLE ledger_balances (
        account_id  text PRIMARY KEY,
        tenant_id   text,
        balance     bigint NOT NULL DEFAULT 0,
        held        bigint NOT NULL DEFAULT 0
      )`.execute(db);
      await sql`CREATE TABLE ledger_history (
        entry_id     text NOT NULL,
        account_id   text NOT NULL,
        tenant_id    text NOT NULL,
        type         text NOT NULL,
        amount       bigint NOT NULL,
        resource     text,
        description  text NOT NULL,
        at           timestamptz NOT NULL,
        position     bigint NOT NULL,
        PRIMARY KEY (entry_id, account_id)
      )`.execute(db);
      await sql`CREATE INDEX ledger_history_by_tenant ON ledger_history (tenant_id, position DESC)`.execute(db);
      // Vouchers (made by volt-admin) and their redemptions: one per organization per code.
      await sql`CREATE TABLE ledger_vouchers (
        code             text PRIMARY KEY,
        amount           bigint NOT NULL CHECK (amount > 0),
        max_redemptions  integer NOT NULL CHECK (max_redemptions > 0),
        expires_at       timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now()
      )`.execute(db);
      await sql`CREATE TABLE ledger_voucher_redemptions (
        code        text NOT NULL REFERENCES ledger_vouchers (code),
        tenant_id   text NOT NULL,
        redeemed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (code, tenant_id)
      )`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP TABLE IF EXISTS ledger_voucher_redemptions, ledger_vouchers, ledger_history, ledger_balances`.execute(db);
    },
  },
  '2026-11-24T1000-ledger-journal': {
    async up(db: Kysely<any>) {
      // A batch's events go to the day's journal stream in one append (measured: the same 64
      // transfers committed in 16 ms instead of 28 ms, the per-stream locks, head lookups and id
      // checks of one stream per transfer gone). Requests still apply once: the journal row
      // (ledger_entries) is the idempotency record, so the event ids need no check. The
      // per-request stream fields ledger_apply_one returns are not used from here on.
      await sql.raw(applyOneByOne).execute(db);
    },
    async down(db: Kysely<any>) {
      // Back to one stream per request.
      await sql.raw(APPLY_PER_STREAM).execute(db);
    },
  },
  '2026-11-24T1100-ledger-plain-transfers': {
    async up(db: Kysely<any>) {
      // A batch of plain transfers (no hold, no charge, no money coming in from outside, which
      // would pay arrears) applied as sets: its ids taken in one INSERT, every account row it
      // moves locked in one statement in account order, then one UPDATE. It applies only when
      // each customer account it debits had, before the batch, at least the sum of the batch's
      // debits from it available: then every order of its transfers is a valid one, and the
      // batch ends where applying them one by one would. Anything else (an id seen before, a
      // customer short of money, another kind) raises 'VLFB0', which rolls the attempt back,
      // and the batch goes through ledger_apply_one request by request.
      await sql`CREATE FUNCTION ledger_batch(p_requests jsonb, p_events jsonb)
        RETURNS TABLE (i integer, id text, debit text, credit text, amount bigint, shard smallint, r jsonb, e jsonb) LANGUAGE sql STABLE AS $$
          SELECT x.i::integer, x.r->>'id', x.r->>'debit', x.r->>'credit', (x.r->>'amount')::bigint, (abs(hashtext(x.r->>'id')) % 16)::smallint, x.r, p_events->(x.i::integer - 1)
          FROM jsonb_array_elements(p_requests) WITH ORDINALITY AS x(r, i) $$`.execute(db);
      await sql`CREATE FUNCTION ledger_apply_plain(p_requests jsonb, p_events jsonb) RETURNS text[] LANGUAGE plpgsql AS $$
        DECLARE
          n integer := jsonb_array_length(p_requests);
          v_count integer;
        BEGIN
          SELECT count(DISTINCT b.id) INTO v_count FROM ledger_batch(p_requests, p_events) b
           WHERE b.r->>'kind' = 'transfer' AND NOT (ledger_kind(b.debit) = 'system' AND ledger_kind(b.credit) = 'customer');
          IF v_count <> n THEN RAISE EXCEPTION 'not a batch of plain transfers' USING ERRCODE = 'VLFB0'; END IF;
          INSERT INTO ledger_entries (entry_id, kind, debit, credit, amount, tenant_id, resource, description)
            SELECT b.id, 'transfer', b.debit, b.credit, b.amount, coalesce(ledger_tenant(b.debit), ledger_tenant(b.credit)), b.r->>'resource', coalesce(b.r->>'description', '')
            FROM ledger_batch(p_requests, p_events) b ORDER BY b.i
          ON CONFLICT (entry_id) DO NOTHING;
          GET DIAGNOSTICS v_count = ROW_COUNT;
          IF v_count <> n THEN RAISE EXCEPTION 'an id was seen before' USING ERRCODE = 'VLFB0'; END IF;
          -- Accounts on first use; then every row the batch moves, locked in account order.
          INSERT INTO ledger_accounts (account_id, shard, kind, tenant_id)
            SELECT DISTINCT v.a, CASE WHEN ledger_kind(v.a) = 'system' THEN v.s ELSE 0 END, ledger_kind(v.a), ledger_tenant(v.a)
            FROM ledger_batch(p_requests, p_events) b, LATERAL (VALUES (b.debit, b.shard), (b.credit, b.shard)) AS v(a, s)
          ON CONFLICT DO NOTHING;
          WITH m AS (
            SELECT v.a AS account_id, CASE WHEN ledger_kind(v.a) = 'system' THEN v.s ELSE 0 END AS shard, sum(v.d) AS delta, sum(greatest(-v.d, 0)) AS debits
            FROM ledger_batch(p_requests, p_events) b, LATERAL (VALUES (b.debit, b.shard, -b.amount), (b.credit, b.shard, b.amount)) AS v(a, s, d)
            GROUP BY 1, 2
          ), locked AS (
            SELECT a.account_id, a.shard, a.kind, a.balance, a.held FROM ledger_accounts a JOIN m USING (account_id, shard)
            ORDER BY a.account_id, a.shard FOR UPDATE OF a
          )
          SELECT count(*) INTO v_count FROM locked l JOIN m USING (account_id, shard) WHERE l.kind = 'customer' AND l.balance - m.debits < l.held;
          IF v_count > 0 THEN RAISE EXCEPTION 'a customer is short of money' USING ERRCODE = 'VLFB0'; END IF;
          UPDATE ledger_accounts a SET balance = a.balance + m.delta
            FROM (SELECT v.a AS account_id, CASE WHEN ledger_kind(v.a) = 'system' THEN v.s ELSE 0 END AS shard, sum(v.d) AS delta
                  FROM ledger_batch(p_requests, p_events) b, LATERAL (VALUES (b.debit, b.shard, -b.amount), (b.credit, b.shard, b.amount)) AS v(a, s, d)
                  GROUP BY 1, 2) m
           WHERE a.account_id = m.account_id AND a.shard = m.shard AND m.delta <> 0;
          PERFORM es_append(jsonb_build_array(jsonb_build_object(
            'stream_id', 'ledger:journal:' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'check_ids', false,
            'events', (SELECT jsonb_agg(t.e || jsonb_build_object('type', 'TransferPosted', 'schema_version', 1, 'data', t.d,
                                  'metadata', (t.e->'metadata') || jsonb_build_object('tenantId', t.d->>'tenantId')) ORDER BY t.i)
                       FROM (SELECT b.i, b.e, jsonb_build_object('transferId', b.id, 'debit', b.debit, 'credit', b.credit, 'amount', b.amount,
                                    'tenantId', coalesce(ledger_tenant(b.debit), ledger_tenant(b.credit)), 'resource', b.r->'resource',
                                    'description', coalesce(b.r->>'description', ''), 'at', b.e->>'occurred_at') AS d
                             FROM ledger_batch(p_requests, p_events) b) t))));
          RETURN array_fill('posted'::text, ARRAY[n]);
        END $$`.execute(db);
      await sql.raw(plainFirst(applyOneByOne, 'jsonb_array_length(p_requests) > 1')).execute(db);
    },
    async down(db: Kysely<any>) {
      await sql.raw(applyOneByOne).execute(db);
      await sql`DROP FUNCTION IF EXISTS ledger_apply_plain(jsonb, jsonb); DROP FUNCTION IF EXISTS ledger_batch(jsonb, jsonb)`.execute(db);
    },
  },
  '2026-11-24T1200-ledger-settle-arrears': {
    async up(db: Kysely<any>) {
      // Arrears recorded while money was arriving (a charge refused, a top-up, then the arrears
      // transfer) leave an organization owing with money available; this pays them from it. Both
      // rows are locked first, in account order as ledger_pair takes them, and the amount is
      // computed under the locks: two settlements at once pay once.
      await sql`CREATE FUNCTION ledger_settle_arrears(p_tenant text, p_event jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE
          v_arrears text := 'arrears:' || p_tenant;
          v_customer text := 'cust:' || p_tenant;
          v_owed bigint;
          v_available bigint;
          v_amount bigint;
          v_id text := 'arrears-settle:' || p_tenant || ':' || (p_event->>'event_id');
        BEGIN
          SELECT -balance INTO v_owed FROM ledger_accounts WHERE account_id = v_arrears AND shard = 0 FOR UPDATE;
          SELECT balance - held INTO v_available FROM ledger_accounts WHERE account_id = v_customer AND shard = 0 FOR UPDATE;
          v_amount := least(coalesce(v_owed, 0), coalesce(v_available, 0));
          IF v_amount <= 0 THEN RETURN 0; END IF;
          INSERT INTO ledger_entries (entry_id, kind, debit, credit, amount, tenant_id, description)
            VALUES (v_id, 'transfer', v_customer, v_arrears, v_amount, p_tenant, 'arrears paid from the balance');
          PERFORM ledger_pair(v_customer, v_arrears, v_amount, 0, 0::smallint);
          PERFORM es_append(jsonb_build_array(jsonb_build_object(
            'stream_id', 'ledger:journal:' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'check_ids', false,
            'events', jsonb_build_array(p_event || jsonb_build_object('type', 'TransferPosted', 'schema_version', 1,
              'data', jsonb_build_object('transferId', v_id, 'debit', v_customer, 'credit', v_arrears, 'amount', v_amount, 'tenantId', p_tenant,
                                         'resource', NULL, 'description', 'arrears paid from the balance', 'at', p_event->>'occurred_at'),
              'metadata', (p_event->'metadata') || jsonb_build_object('tenantId', p_tenant))))));
          RETURN v_amount;
        END $$`.execute(db);
    },
    async down(db: Kysely<any>) {
      await sql`DROP FUNCTION IF EXISTS ledger_settle_arrears(text, jsonb)`.execute(db);
    },
  },
  '2026-11-30T1700-ledger-release-before-hold': {
    async up(db: Kysely<any>) {
      // A hold can be released before it is placed: its placer (the pods service) gave up
      // waiting for the ledger and released it, while the placing command, durable, was still
      // queued. The release then takes the hold's id as a void hold, and the placing, when it
      // comes, is refused (the id was used for something else) instead of holding the
      // customer's money for nothing until it expires. A hold being placed at that moment makes
      // the release's insert wait for it; the release then finds it and releases it as usual.
      await sql.raw(applyOneReleasingEarly()).execute(db);
    },
    async down(db: Kysely<any>) {
      await sql.raw(APPLY_ONE.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION')).execute(db);
    },
  },
  '2026-12-02T1900-ledger-fences': {
    async up(db: Kysely<any>) {
      // A fence per kind of writer (the billing cycle): advancing it (an UPDATE) waits for the
      // batches that checked the old epoch to commit, and every request checked after it finds the
      // new one, so none of a superseded writer's requests lands after its successor has looked.
      await sql`CREATE TABLE ledger_fences (name text PRIMARY KEY, epoch bigint NOT NULL)`.execute(db);
      // A batch with a fenced request goes request by request: the set-based path checks no fence.
      await sql.raw(plainFirst(applyFenced, `jsonb_array_length(p_requests) > 1 AND NOT jsonb_path_exists(p_requests, '$[*].fence')`)).execute(db);
    },
    async down(db: Kysely<any>) {
      await sql.raw(plainFirst(applyOneByOne, 'jsonb_array_length(p_requests) > 1')).execute(db);
      await sql`DROP TABLE IF EXISTS ledger_fences`.execute(db);
    },
  },
};

/** ledger_apply_one whose release of a hold not yet placed voids the hold's id ('voided'). */
function applyOneReleasingEarly(): string {
  const lookup = `SELECT * INTO v_hold FROM ledger_entries WHERE entry_id = p->>'holdId' AND kind = 'hold' FOR UPDATE;`;
  const voiding = `${lookup}
            IF NOT FOUND AND v_kind = 'release' THEN
              INSERT INTO ledger_entries (entry_id, kind, debit, credit, amount, status, description)
                VALUES (p->>'holdId', 'hold', '', '', 0, 'voided', 'released before it was placed')
                ON CONFLICT (entry_id) DO NOTHING;
              IF FOUND THEN RETURN jsonb_build_object('outcome', 'voided'); END IF;
              ${lookup}
            END IF;`;
  if (APPLY_ONE.split(lookup).length !== 2) throw new Error('ledger_apply_one: the hold lookup to extend was not found once');
  return APPLY_ONE.replace('CREATE FUNCTION', 'CREATE OR REPLACE FUNCTION').replace(lookup, voiding);
}

/** As of the journal: the batch's events in one append to the day's journal stream. */
const JOURNAL_APPEND = `IF jsonb_array_length(v_events) > 0 THEN
            PERFORM es_append(jsonb_build_array(jsonb_build_object(
              'stream_id', 'ledger:journal:' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD'), 'check_ids', false, 'events', v_events)));
          END IF;`;
const applyOneByOne = ledgerApply(`(v_result->'event'->'events')`, JOURNAL_APPEND);

/** applyOneByOne whose requests carrying a fence are refused ('superseded') when the fence has moved past their epoch. */
const applyFenced = ledgerApply(
  `(v_result->'event'->'events')`,
  JOURNAL_APPEND,
  `
            IF p_requests->i ? 'fence' THEN
              PERFORM 1 FROM ledger_fences WHERE name = p_requests->i->'fence'->>'name' AND epoch = (p_requests->i->'fence'->>'epoch')::bigint FOR SHARE;
              IF NOT FOUND THEN
                v_outcomes := v_outcomes || 'superseded'::text;
                CONTINUE;
              END IF;
            END IF;`,
);

/** ledger_apply trying a batch as plain transfers first (ledger_apply_plain) when `when` holds, one by one if that fails. */
function plainFirst(apply: string, when: string): string {
  const loop = 'BEGIN\n          FOR';
  if (apply.split(loop).length !== 2) throw new Error('ledger_apply: the loop to put the plain path before was not found once');
  return apply.replace(
    loop,
    `BEGIN\n          IF ${when} THEN\n            BEGIN\n              RETURN ledger_apply_plain(p_requests, p_events);\n            EXCEPTION WHEN SQLSTATE 'VLFB0' THEN\n              NULL; -- rolled back to here: one by one below\n            END;\n          END IF;\n          FOR`,
  );
}
