"""IVR: menus callers can get through, defined as data (``config/ivr/*.yaml``), run over AGI.

    flow.py       the YAML schema (pydantic)          validate.py  file/node/field problems, termination rule
    actions.py    events in, actions out (data)       stepper.py   pure step(flow, state, event, now)
    hours.py      business hours + holidays            sounds.py    which prompts Asterisk has
    directory.py  CustomerDirectory port + fake       driver.py    run_ivr / make_ivr_route over AgiSession
    config.py     check_flows / load_flows            cli.py       ``cti ivr check [FILE]``
    errors.py     FlowInvalid, IllegalTransition

Publishes cti.journey CallArrived and IvrFinished (path with masked inputs, outcome, queue, skills,
priority, customer, language, attributes); the ACD consumes IvrFinished.
"""
