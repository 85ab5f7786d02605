/**
 * The fast timestamptz reader of the PostgreSQL store against pg's own parser, on the text a real
 * server writes: random instants over two centuries in time zones with whole-hour, half-hour,
 * 45-minute and (historic, local mean time) second offsets, plus the shapes it must hand to the
 * general parser (infinity, BC, fractions of every length).
 */
import "../leak-check.js";
import { test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { parseTimestamptz } from "../../src/store/postgres/parse-time.js";
import { databaseUrl, postgresHarness } from "../harness/postgres.js";

const skip = (await postgresHarness.skipReason()) ?? false;
const general = pg.types.getTypeParser(1184, "text");
const ZONES = ["UTC", "Asia/Kolkata", "America/St_Johns", "Asia/Kathmandu", "Europe/Dublin", "Pacific/Chatham"];
const FIXED = ["infinity", "-infinity", "0099-01-01 00:00:00+00 BC", "2026-11-29 11:12:13+00", "2026-11-29 11:12:13.5+00",
  "2026-11-29 11:12:13.123456+00", "1880-01-01 00:00:00+00"];

test("timestamptz text reads as pg's general parser reads it, in every time zone", { skip }, async () => {
  const client = new pg.Client(databaseUrl);
  await client.connect();
  try {
    let compared = 0;
    for (const zone of ZONES) {
      await client.query(`SET TIME ZONE '${zone}'`);
      const { rows } = await client.query<{ t: string }>({
        text: `SELECT (timestamptz '1880-01-01' + random() * interval '200 years')::text AS t FROM generate_series(1, 2000)
               UNION ALL SELECT unnest($1::timestamptz[])::text`,
        values: [FIXED],
      });
      for (const { t } of rows) {
        const fast = parseTimestamptz(t, general);
        const slow = general(t);
        assert.equal(String(Number(fast)), String(Number(slow)), `${zone}: ${t}`);
        compared++;
      }
    }
    assert.equal(compared, ZONES.length * (2000 + FIXED.length));
  } finally {
    await client.end();
  }
});

test("text that is not in the common ISO shape goes to the general parser", () => {
  const seen: string[] = [];
  const fallback = (text: string) => {
    seen.push(text);
    return "fallback";
  };
  for (const text of ["infinity", "0099-01-01 00:00:00+00 BC", "12026-01-01 00:00:00+00", "2026-11-29T11:12:13+00", "2026-11-29 11:12:13"]) {
    assert.equal(parseTimestamptz(text, fallback), "fallback", text);
  }
  assert.equal(seen.length, 5);
  assert.equal((parseTimestamptz("2026-11-29 11:12:13.007+05:30", fallback) as Date).toISOString(), "2026-11-29T05:42:13.007Z");
});
