#!/bin/sh
# Trains a policy over several seeds with riskc train's defaults (fit,
# selection and test rows) and prints the test (hold-out) and selection
# AUC next to the logistic regression baseline on the same splits.
#
#   scripts/train-seeds.sh POLICY DATA LABEL POSITIVE [SEEDS] [-- extra riskc train flags]
#   scripts/train-seeds.sh examples/credit/credit.risk examples/credit/german_credit.csv Class Bad "1 2 3 4 5"
set -eu
policy=$1 data=$2 label=$3 positive=$4
seeds=${5:-"1 2 3 4 5"}
shift 4; [ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
riskc=${RISKC:-bin/riskc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '| seed | best epoch / run | selection: before | tuned | logistic regr. | test: before | tuned (hard) | tuned (soft) | logistic regr. |\n|---|---|---|---|---|---|---|---|---|\n'
for s in $seeds; do
  "$riskc" train --policy "$policy" --data "$data" --label "$label" --positive "$positive" \
    --seed "$s" --baseline --force -q -o "$tmp/tuned.risk" --metrics-json "$tmp/m$s.json" "$@" >/dev/null
  jq -r --arg s "$s" '"| \($s) | \(.best_epoch) / \(.epochs|length) | \(.before.selection.auc*10000|round/10000) | \(.after_hard.selection.auc*10000|round/10000) | \(.baseline_logreg.selection.auc*10000|round/10000) | \(.before.test.auc*10000|round/10000) | \(.after_hard.test.auc*10000|round/10000) | \(.after_soft.test.auc*10000|round/10000) | \(.baseline_logreg.test.auc*10000|round/10000) |"' "$tmp/m$s.json"
done
jq -rs '"| mean | | \(map(.before.selection.auc)|add/length*10000|round/10000) | \(map(.after_hard.selection.auc)|add/length*10000|round/10000) | \(map(.baseline_logreg.selection.auc)|add/length*10000|round/10000) | \(map(.before.test.auc)|add/length*10000|round/10000) | \(map(.after_hard.test.auc)|add/length*10000|round/10000) | \(map(.after_soft.test.auc)|add/length*10000|round/10000) | \(map(.baseline_logreg.test.auc)|add/length*10000|round/10000) |"' "$tmp"/m*.json
