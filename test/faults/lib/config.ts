/**
 * The suite's scale. `npm run test:faults` runs the CI sizes (the whole suite well under 5 minutes on
 * 2 cores); `npm run test:faults -- --soak` sets HEWN_FAULTS_MODE=soak for the longer manual run.
 */
export const SOAK = process.env.HEWN_FAULTS_MODE === "soak";
export const MODE = SOAK ? "soak" : "CI";

export const SCALE = {
  /** 1. Worker killed. */
  kill: { jobs: SOAK ? 20_000 : 4_000, kills: SOAK ? 30 : 8, processes: 3, workers: 8, sleep: [20, 180] as [number, number] },
  /** 2. Database connection lost (PostgreSQL). */
  connection: { jobs: SOAK ? 10_000 : 3_000, terminations: SOAK ? 10 : 4, processes: 3, workers: 8, sleep: [10, 100] as [number, number] },
  /** 3a. Stalled handlers; the leak check holds `leakMb` MB per stalled handler. */
  stall: { stalls: SOAK ? 30 : 10, late: 3, normal: SOAK ? 200 : 40, leakStalls: SOAK ? 200 : 50, leakMb: 4 },
  /** 4. Poison jobs. */
  poison: { normal: SOAK ? 1_000 : 150, maxCrashes: 3 },
  /** 5. SQLite processes killed mid-transaction. */
  sqliteKill: { minJobs: SOAK ? 20_000 : 2_000, kills: SOAK ? 50 : 8, processes: 3, workers: 8 },
  /** 6. Hostile input: fast-check runs per store. */
  fuzz: { runs: SOAK ? 10_000 : 1_500, sentinels: 25 },
  /** 7. Load. */
  load: { jobs: SOAK ? 100_000 : 10_000, processes: 4, workers: 16, failRate: 0.1 },
  /**
   * 8. One of two processes killed: the survivor drains. Slow handlers (no local buffer), and few enough
   * jobs that the whole scenario stays short.
   */
  survivor: { jobs: SOAK ? 240 : 64, processes: 2, workers: 8, handlerMs: 1_000, leaseMs: 2_000, poisonJobs: SOAK ? 120 : 48 },
} as const;

/** Hard timeout of one scenario (one store). */
export const SCENARIO_TIMEOUT_MS = SOAK ? 60 * 60_000 : 4 * 60_000;
