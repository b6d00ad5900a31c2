"""`originchats import PATH`: an original OriginChats server's `db/` folder into our store.

source.py reads the original's files and collects the report; records.py maps each kind of record
to ours; accounts.py, messages.py and others.py write the groups; run.py runs them, each in one
transaction, resumable and idempotent; command.py is the command line. docs/import.md describes it
for operators."""
