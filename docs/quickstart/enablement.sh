#!/usr/bin/env bash
# Enablement lead: check a rubric before shipping it, measure it against
# pitches careful humans labelled, and read how the program is doing.
set -euo pipefail

# 1. Every problem in the file, as file:line:column (exit 1 on any).
pitchgrade rubric lint rubrics/ledgerly-sales-pitch.toml

# 2. Agreement with pitches careful humans labelled: per-criterion kappa,
#    decisions, false passes and fails, share sent to review. Exit 1 when a
#    bar you set is missed (with none set, on any mismatch). This set is the
#    one the judge was developed on; the other products' sets beside it are
#    held out, and are the honest figure (BENCHMARKS.md).
pitchgrade rubric test rubrics/tests/ledgerly-sales-pitch --rubric ledgerly-sales-pitch \
  --max-false-passes 0 --max-false-fails 0 --min-decision-agreement 0.9

# 3. The program: pass rates, first-attempt band, coverage per firm, kappa,
#    tier forecast (reads ./pitchgrade-data unless --database-url says otherwise).
pitchgrade report

# 4. Before shipping an edit, what it would do to past grades: the same
#    pitches scored again from their stored transcripts, decisions that move
#    and why, certifications at stake (nothing changes without --apply).
sed -e 's/^version = 1$/version = 2/' -e 's/^score = 70$/score = 80/' \
  rubrics/ledgerly-sales-pitch.toml > next-quarter.toml
pitchgrade rubric replay next-quarter.toml

# 5. What the sweep would do in a year: reminders, expiries, paused rights
#    (a dry run; nothing is written).
pitchgrade sweep --at "$(date -u -d '+1 year' +%F)"
