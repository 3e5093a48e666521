"""The Asterisk Manager Interface side of the CTI bridge.

    codec       bytes <-> AMI header dicts (fast framing, skips events nobody models)
    translate   header dicts -> typed events (events.py); nothing else sees an AMI header name
    callmodel   pure CallModel: calls by Linkedid, channels, Local halves, bridges, transfers
    call_records  the model's records: channel phases, the Channel/Call/Transfer views it returns
    call_outcomes  the journey events the model publishes: a Dial()'s end, a voicemail, a call's end
    manager     AmiClient: the one place panoramisk's Manager is used; login, ping, backoff, resync
    control     CallControl port, AmiCallControl adapter, FakeCallControl for tests
    queue_members  AmiFallbackQueues: app_queue fallback queue members (acd.fallback's port)
    bridge      AmiBridge: client -> model -> bus, and .control

Errors: see cti.ami.errors.
"""
