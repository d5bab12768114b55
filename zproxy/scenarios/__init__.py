"""Outage scenario replay: ``zproxy scenario run FILE [--report DIR] [--traffic FILE] [--config
FILE] [--compare-config NEW.yaml]``, ``list``.

Where it sits in the request flow: *outside* it, as the client. A scenario drives synthetic
CustomersDot traffic -> zproxy (a real ``zproxy serve`` subprocess on a real Redis) -> the fake
Zuora (in this process) while the fake follows a fault timeline; then it replays the same traffic
straight at a fresh fake Zuora (the baseline) and reports what clients would have seen.

Modules, pure first:
  ``model``      the typed scenario (traffic, phases, invariants).
  ``parse``      YAML -> ``Scenario``, every problem with its file, line and path.
  ``traffic``    the request plan (seeded, pure) and its HTTP form.
  ``measure``    outcomes -> per-phase numbers, percentiles, cache results, write audit.
  ``invariants`` checks the numbers against the scenario's invariants.
  ``journeys``   each request's customer journey and each journey's error ratio.
  ``compare``    the pre-deploy gate's verdict: current config vs NEW.yaml.
  ``driver``     sends a plan at its rate with aiohttp (I/O).
  ``runner``     starts Redis, the fake, zproxy; applies phases; drains; audits (I/O).
  ``recording``  a ``serve --record`` file -> the plan, pseudonyms mapped onto the fake's data.
  ``report_text`` / ``report_html`` (+ ``report_charts``)  the terminal table and the page.
  ``report_compare``  both of those, side by side, for the gate.
  ``cli``        ``run_scenario_command``; ``compare_cli`` its ``--compare-config`` runs.
"""
