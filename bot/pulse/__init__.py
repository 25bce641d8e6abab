"""The Customer Owner Pulse: one DM per customer owner about their own accounts.

`bot.pulse.build` works out what each owner is told (`messages.pulse.Pulse`);
`bot.pulse.send` resolves owners to Slack users and delivers each pulse exactly once
through `bot.delivery`; `messages.pulse` renders it.
"""
