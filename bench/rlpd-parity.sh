#!/usr/bin/env bash
# RLPD side by side (issue 38): bench/o2o-parity.sh with ALGO=rlpd (its settings and resumption there).
#   DATASET=pendulum-medium-replay STEPS=3000 START=1000 EVAL_EVERY=250 SEEDS='0 1 2' bash bench/rlpd-parity.sh
ALGO=rlpd exec bash "$(dirname "$0")/o2o-parity.sh" "$@"
