#!/usr/bin/env bash
# Amount of static data used (N-Caltech101). Paper (parity): 0 % 79.66 (the baseline),
# 10 % 80.00, 30 % 82.41, 50 % 86.20, 80 % 88.50, 100 % 92.64.
source "$(dirname "$0")/common.sh"
FLAVOUR=${FLAVOUR:-parity}
train "ncaltech101${FLAVOUR:+-$FLAVOUR}-baseline" "$(ncaltech_data)"
for pct in 10 30 50 80 100; do
    train "ncaltech101${FLAVOUR:+-$FLAVOUR}-static-$pct" "$(ncaltech_data)"
done
snn-transfer compare "$RUNS"/ncaltech101*-static-* "$RUNS"/ncaltech101*-baseline --plot "$RUNS/static_fractions.png"
