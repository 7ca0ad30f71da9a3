"""The blind arena: pairs of anonymous contenders, one vote each, kept in a database, and a leaderboard.

contenders (who competes, and how two are drawn), prompts (what a pair writes), schema
(where votes live, and the schema's version), votes (the store), leaderboard (the
Bradley-Terry fit), pairs (the Arena: issuing pairs and taking votes), inputs (clients'
values for the arena's endpoints). The page's tab and endpoints are in autowrite.ui.
"""
