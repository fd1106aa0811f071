#!/usr/bin/env bash
# Main result: the method vs the TET baseline on N-Caltech101 and CEP-DVS, three seeds each.
# Paper (best epoch on test): N-Caltech101 92.64 % (method) vs 79.66 % (baseline);
# CEP-DVS 30.50 % (method). The -parity runs use the paper's protocol; the plain runs select
# the epoch on a validation split and report test for it.
source "$(dirname "$0")/common.sh"
for recipe in ncaltech101 ncaltech101-baseline ncaltech101-parity ncaltech101-parity-baseline; do
    train "$recipe" "$(ncaltech_data)"
done
for recipe in cepdvs cepdvs-baseline cepdvs-parity cepdvs-parity-baseline; do
    train "$recipe" "$(cepdvs_data)"
done
snn-transfer compare "$RUNS"/ncaltech101* "$RUNS"/cepdvs* --plot "$RUNS/main_result.png"
