import { stringify } from "csv-stringify/sync";
import type { LookupLog } from "../model/log.js";
import { LOOKUP_COLUMNS, lookupRow } from "./csv.js";

/** Rows gathered before they are turned into text and handed on. */
const BATCH = 4096;

/**
 * A run's lookups CSV written as the run goes (a LookupLog sink): the same bytes as lookupsCsv,
 * in batches of rows handed to `write`, so that the file never has to be held whole.
 */
export class LookupsCsvStream {
  private rows: (string | number)[][] = [];
  private headerDone = false;

  constructor(
    private readonly scenario: string,
    private readonly seed: number,
    private readonly write: (text: string) => void,
  ) {}

  /** The LookupLog sink: row i of the log. */
  readonly row = (log: LookupLog, i: number): void => {
    this.rows.push(lookupRow(this.scenario, this.seed, log, i));
    if (this.rows.length >= BATCH) this.flush();
  };

  /** Writes what is gathered (the header with the first batch). */
  flush(): void {
    if (this.rows.length === 0 && this.headerDone) return;
    this.write(stringify(this.rows, { header: !this.headerDone, columns: [...LOOKUP_COLUMNS] }));
    this.headerDone = true;
    this.rows = [];
  }

  /** At the end of the run: the last rows (or the header alone for a run without lookups). */
  end(): void {
    this.flush();
  }
}
