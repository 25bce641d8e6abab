"""Action ids of every interactive element the bot sends; the listeners register these.

Other modules (the weekly pulse) put `OPEN_ACCOUNT` on their own buttons, with the
account id as the value, to open the account card.
"""

OPEN_ACCOUNT = "open_account"            # value: account_id -> the account card (ephemeral)
HEALTH_GRAPH = "health_graph"            # value: account_id -> PNG chart uploaded to the conversation
SHARE_ACCOUNT = "share_account"          # value: account_id -> card posted with chat.postMessage
FLAG_ACCOUNT = "flag_account"            # value: account_id -> flag the prediction (from a card)
FLAG_CHOOSE_ACCOUNT = "flag_choose_account"  # value: "<flag_id>:<account_id>"
FLAG_EXPECT_RENEWAL = "flag_expect_renewal"  # value: "<flag_id>:<category index>"
FLAG_EXPECT_UPSELL = "flag_expect_upsell"    # value: "<flag_id>:<0 likely | 1 unlikely>"
LIST_PAGE = "list_page"                  # value: JSON {"text": command text, "page": n}
SEGMENT_CSV = "segment_csv"              # value: segment id -> CSV of members uploaded
SNOOZE_ACCOUNT = "snooze_account"        # value: account_id -> snoozed for pulse.snooze_days
FLAG_MODAL = "flag_prediction"           # callback_id of the flag modal (view_submission)

ALL = [OPEN_ACCOUNT, HEALTH_GRAPH, SHARE_ACCOUNT, FLAG_ACCOUNT, FLAG_CHOOSE_ACCOUNT,
       FLAG_EXPECT_RENEWAL, FLAG_EXPECT_UPSELL, LIST_PAGE, SEGMENT_CSV, SNOOZE_ACCOUNT]
