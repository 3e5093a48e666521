#!/usr/bin/env bash
# Runs every test tier. A tier with no passing test fails the run (see tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
export CTI_REQUIRE_TIERS=${CTI_REQUIRE_TIERS:-unit,replay,fuzz,web,db,redis,asterisk,browser,chaos}
echo "lint: ruff"
.venv/bin/ruff check .
echo "types: mypy (strict on the pure cores and the listed adapters)"
.venv/bin/mypy --strict acd/routing.py acd/routing_state.py acd/routing_steps.py acd/routing_virtual.py acd/routing_agents.py acd/agent_index.py acd/waiting.py acd/timers.py acd/model.py acd/decisions.py acd/stats.py acd/staffing.py acd/kpis.py acd/agent_parts.py acd/alerts.py acd/alert_rules.py acd/alert_config.py acd/recipients.py acd/recovery.py acd/virtual_hold.py acd/pacing.py \
  ivr/stepper.py ivr/flow.py ivr/actions.py crm_core/fold.py crm_core/event_keys.py crm_core/unhanded.py crm_core/calllog.py crm_core/calllog_writer.py crm_core/calllog_rows.py cti/heap.py cti/journey.py cti/events.py cti/ami/callmodel.py cti/ami/call_records.py cti/ami/call_outcomes.py cti/ami/bridge_waits.py \
  cti/ami/codec.py cti/ami/backoff.py cti/ami/manager.py cti/ami/queue_members.py cti/ami/phone_secrets.py cti/ami/dialplan.py acd/fallback.py acd/handoff.py crm_core/recording_handoff.py agent_console/security.py agent_console/tokens.py agent_console/principal.py \
  cti/redis_bus.py cti/redis_lease.py agent_console/outbox.py agent_console/hub.py agent_console/snapshots.py agent_console/pop_refresh.py agent_console/session_checks.py cti/tasks.py agent_console/plain.py agent_console/wire.py agent_console/desk.py agent_console/desk_wrapups.py agent_console/desk_callbacks.py agent_console/desk_phones.py agent_console/queue_login.py agent_console/errors.py crm_core/case_feed.py crm_core/events.py cti/files.py crm_core/backup.py cti/config_problems.py cti/trunk_account.py cti/outage_log.py agent_console/queue_filter.py \
  callcenter/adapters.py callcenter/handoff.py callcenter/listeners.py callcenter/standby.py callcenter/stopping.py callcenter/engine.py callcenter/console_app.py acd/reconnect.py acd/consultations.py acd/call_actions.py acd/consult_actions.py acd/consult_ring.py acd/phone_contacts.py acd/held_caller.py acd/parts.py acd/delivery.py acd/follower.py acd/effects.py agent_console/integrations.py crm_core/integration_tokens.py crm_core/cli.py cti/bus.py acd/survey.py acd/dial_readiness.py agent_console/supervisor/agents.py agent_console/supervisor/history.py agent_console/supervisor/board.py ivr/sounds.py acd/announce.py callcenter/config_check.py agent_console/policy.py agent_console/queue_scope.py cti/safety.py cti/trunks.py acd/ringing.py callcenter/recovery_agents.py callcenter/recovery_last_agents.py callcenter/recovery_own_calls.py acd/ring_contacts.py
# Five pytest-xdist workers on two cores (CTI_TEST_WORKERS=0 runs in one process): most of the
# real-PBX, browser and chaos tests wait on real time (calls, prompts, timers), so more workers
# overlap those waits (bench/RESULTS.md has the suite's times with two to five workers).
# Each worker starts its own servers; a module stays on one worker (its module fixtures start
# once), and modules go out in collection order (tests/conftest.py puts the long real-time tiers first).
workers=${CTI_TEST_WORKERS:-5}
echo "tests: tiers ${CTI_REQUIRE_TIERS} (${workers} workers)"
exec .venv/bin/python -m pytest -p no:cacheprovider -n "${workers}" --dist loadscope --no-loadscope-reorder "$@"
