#!/usr/bin/env bash
# Fraction of the event training data (N-Caltech101), method vs baseline.
# Paper (parity protocol), baseline / method in %:
#  10 %: 44.48 / 58.50   20 %: 55.63 / 69.20   30 %: 64.37 / 75.51   40 %: 67.69 / 78.62
#  50 %: 70.46 / 81.83   60 %: 72.76 / 85.63   70 %: 75.86 / 87.36   80 %: 76.55 / 88.97
#  90 %: 78.39 / 91.95  100 %: 79.66 / 92.64
source "$(dirname "$0")/common.sh"
FLAVOUR=${FLAVOUR:-parity}   # parity (as the paper) or "" (validation-selected)
for pct in 10 20 30 40 50 60 70 80 90 100; do
    for mode in "" "-baseline"; do
        train "ncaltech101${FLAVOUR:+-$FLAVOUR}-events-$pct$mode" "$(ncaltech_data)"
    done
done
snn-transfer compare "$RUNS"/ncaltech101*-events-* --plot "$RUNS/event_fractions.png"
