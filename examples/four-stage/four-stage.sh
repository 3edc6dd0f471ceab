#!/bin/sh
# The four-stage workflow (analyze → plan → implement → review): each stage is its own `claude -p` run started by
# `tokenledger run`, so its tokens and cost are attributed to its stage, agent and task. Exporting
# OTEL_RESOURCE_ATTRIBUTES between stages inside one running `claude` cannot do this (it fixed its attributes when
# it started); starting each stage with its own environment does. Copy this script and adapt the prompts.
#
# Usage: four-stage.sh "TASK DESCRIPTION"
#
# Environment (all optional):
#   WORKFLOW_ID    the workflow id; default: a new Beads epic when `bd` is on PATH, else one minted by tokenledger
#   WORKFLOW_PATH  full (default: all four stages) or fast (implement and review only)
#   COMPLEXITY     sent as the `complexity` attribute (default: none)
#   TOKENLEDGER    the tokenledger binary (default: tokenledger); its config (tokenledger.toml or TOKENLEDGER_*
#                  variables) says where the telemetry goes
#   CLAUDE         the Claude Code binary (default: claude)
#   CLAUDE_ARGS    extra arguments for every claude run, split on spaces (e.g. "--allowedTools Bash Edit Write")
#   ANALYZE_MODEL, PLAN_MODEL, IMPLEMENT_MODEL, REVIEW_MODEL
#                  each stage's model (defaults: opus, sonnet, sonnet, opus), also sent as `model_expected`
#   OUT_DIR        where each stage's output is written (default: ./workflow-<id>)
#   BD             the Beads binary (default: bd); BEADS=0 to leave Beads out. With Beads, each stage gets a task
#                  under the workflow's epic and its id as `task_id`; without, task ids are <workflow>.<n>-<stage>.
set -eu
set -f # CLAUDE_ARGS is split on spaces, never glob-expanded

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 \"TASK DESCRIPTION\"" >&2
    exit 64
fi
TASK=$1
TOKENLEDGER=${TOKENLEDGER:-tokenledger}
CLAUDE=${CLAUDE:-claude}
CLAUDE_ARGS=${CLAUDE_ARGS:-}
WORKFLOW_PATH=${WORKFLOW_PATH:-full}
BD=${BD:-bd}

use_beads() {
    [ "${BEADS:-1}" != 0 ] && command -v "$BD" >/dev/null 2>&1
}

# The id of the issue `bd create … --json` printed (an object; pretty-printed or on one line).
beads_create() {
    "$BD" create "$@" --json | grep -o '"id":[[:space:]]*"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/'
}

if [ -z "${WORKFLOW_ID:-}" ]; then
    if use_beads; then
        WORKFLOW_ID=$(beads_create "$TASK" -t epic)
    else
        # Minted once, reused by every stage.
        WORKFLOW_ID=$("$TOKENLEDGER" env --workflow new --print-id)
    fi
fi
[ -n "$WORKFLOW_ID" ] || { echo "$0: no workflow id" >&2; exit 1; }
OUT_DIR=${OUT_DIR:-./workflow-$(printf %s "$WORKFLOW_ID" | tr -c 'A-Za-z0-9._-' '_')}
mkdir -p "$OUT_DIR"
echo "workflow $WORKFLOW_ID ($WORKFLOW_PATH): outputs in $OUT_DIR" >&2

# stage NUMBER STAGE AGENT MODEL PROMPT: runs one stage, its answer to $OUT_DIR/NUMBER-STAGE.out.
stage() {
    number=$1 name=$2 agent=$3 model=$4 prompt=$5
    if use_beads; then
        task_id=$(beads_create "$name: $TASK" -t task --parent "$WORKFLOW_ID")
    else
        task_id="$WORKFLOW_ID.$number-$name"
    fi
    out="$OUT_DIR/$number-$name.out"
    echo "== $name ($agent, $model, task $task_id)" >&2
    # shellcheck disable=SC2086 # CLAUDE_ARGS is meant to be split
    "$TOKENLEDGER" run --workflow "$WORKFLOW_ID" --path "$WORKFLOW_PATH" ${COMPLEXITY:+--complexity "$COMPLEXITY"} \
        --stage "$name" --agent "$agent" --task-id "$task_id" --model-expected "$model" -- \
        "$CLAUDE" -p "$prompt" --model "$model" $CLAUDE_ARGS >"$out"
}

# What an earlier stage produced, for the next one's prompt.
output_of() {
    cat "$OUT_DIR/$1.out" 2>/dev/null || echo "(none: this stage was skipped)"
}

if [ "$WORKFLOW_PATH" = full ]; then
    stage 1 analyze analyst "${ANALYZE_MODEL:-opus}" "You are the analyst. Analyze the task below and the code it \
touches: what must change, where, and the risks. Do not change any file.

Task: $TASK"

    stage 2 plan planner "${PLAN_MODEL:-sonnet}" "You are the planner. Turn the analysis below into a short, \
ordered implementation plan with the tests that prove it. Do not change any file.

Task: $TASK

Analysis:
$(output_of 1-analyze)"
fi

stage 3 implement implementer "${IMPLEMENT_MODEL:-sonnet}" "You are the implementer. Carry out the plan below \
(or, without one, the task), with tests. Report what you changed.

Task: $TASK

Plan:
$(output_of 2-plan)"

stage 4 review reviewer "${REVIEW_MODEL:-opus}" "You are the reviewer. Review the change against the task and the \
implementer's report below (read the diff): correctness, tests, risks. Answer with a verdict and findings.

Task: $TASK

Implementer's report:
$(output_of 3-implement)"

echo "workflow $WORKFLOW_ID done; its figures: $TOKENLEDGER report --workflow '$WORKFLOW_ID'" >&2
