"""python -m train.card FOLDER...: render cards again after a template change, keeping their evaluation."""

from train.card.files import build_parser, rewrite_card

(command,) = build_parser().parse()
for folder in command.folders:
    print(f"wrote {rewrite_card(folder)}")
