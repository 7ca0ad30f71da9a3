"""The slot planner both local backends share: which slot a sequence takes, and what of its cache it keeps."""

from __future__ import annotations

from autowrite.backends.slots import (
    Placement,
    SlotTable,
    common_prefix_length,
    place_one,
    place_packed,
    place_sharing,
)


def _table(*held: list[int]) -> SlotTable:
    """A table whose slots hold these sequences, used in this order (the first longest ago)."""
    table = SlotTable(len(held))
    for slot, ids in enumerate(held):
        if ids:
            table.tick()
            table.hold(slot, ids)
    return table


def test_common_prefix_length():
    assert common_prefix_length([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_length([], [1]) == 0
    assert common_prefix_length([7, 8], [7, 8]) == 2


def test_a_text_grown_by_one_token_continues_its_slot_and_prepares_nothing():
    table = _table([1, 2, 3], [], [])
    assert place_sharing(table, [[1, 2, 3, 4]], answered=()) == [Placement(0, [1, 2, 3, 4], 3)]
    assert table.ids[0] == [1, 2, 3, 4]


def test_a_new_text_takes_the_least_recently_used_slot_when_no_slot_shares_anything():
    table = _table([5, 6], [7, 8], [9])
    table.tick()
    table.touch(0)  # slot 0 used again: slot 1 is now the oldest
    assert place_sharing(table, [[1, 2]], answered=()) == [Placement(1, [1, 2], 0, trim=True)]


def test_branches_of_one_prefix_copy_it_instead_of_computing_it_again():
    table = _table([1, 2, 3, 4, 5], [], [])
    plan = place_sharing(table, [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7]], answered=())
    assert plan == [Placement(0, [1, 2, 3, 4, 5, 6], 5), Placement(1, [1, 2, 3, 4, 5, 7], 5, source=0)]


def test_a_slot_that_only_shares_part_is_cut_back_to_it():
    table = _table([1, 2, 3, 9, 9], [], [])
    assert place_sharing(table, [[1, 2, 3, 4]], answered=()) == [Placement(0, [1, 2, 3, 4], 3, trim=True)]


def test_the_sequence_evaluated_last_is_answered_from_its_slot():
    table = _table([], [], [4, 4])
    assert place_sharing(table, [[4, 4]], answered={2}) == [Placement(2, [4, 4], 2)]
    # Without its logits kept, the last position is computed again.
    assert place_sharing(_table([], [], [4, 4]), [[4, 4]], answered=()) == [Placement(2, [4, 4], 1, trim=True)]


def test_one_at_a_time_the_prefix_of_a_taken_slot_is_copied_into_the_oldest_free_one():
    # The reference backend's generations: each variant keeps a slot, and the first step's
    # variants branch from the one prompt the first variant's slot holds.
    table = _table([1, 2, 3], [8], [9])
    taken: set[int] = set()
    assert place_one(table, [1, 2, 3, 4], taken, answered={0, 1, 2}) == Placement(0, [1, 2, 3, 4], 3, trim=True)
    table.hold(0, [1, 2, 3, 4])
    assert place_one(table, [1, 2, 3, 5], taken, answered={0, 1, 2}) == Placement(1, [1, 2, 3, 5], 3, source=0)
    assert taken == {0, 1}


def test_one_at_a_time_a_repeated_sequence_is_answered_wherever_it_is():
    table = _table([1, 2], [3])
    assert place_one(table, [1, 2], {0}, answered={0, 1}) == Placement(0, [1, 2], 2)
    # Nothing shared: the least recently used slot starts anew (slot 0 was used just now).
    assert place_one(table, [7], set(), answered={0, 1}) == Placement(1, [7], 0, trim=True)


def test_a_calls_sequences_take_slots_zero_to_n_and_copy_a_computed_prompt():
    prompt = [1, 2, 3]
    table = _table(prompt, [], [], [])  # the prompt computed once, its logits kept
    plan = place_packed(table, [prompt, prompt, prompt], answered={0})
    assert plan == [
        Placement(0, prompt, 3, trim=True),
        Placement(1, prompt, 3, source=0, trim=True),
        Placement(2, prompt, 3, source=0, trim=True),
    ]
    step = place_packed(table, [[*prompt, 7], [*prompt, 8], [*prompt, 9]], answered={0, 1, 2})
    assert [(p.slot, p.keep, p.source, p.trim) for p in step] == [
        (0, 3, None, False),
        (1, 3, None, False),
        (2, 3, None, False),
    ]


def test_a_text_above_the_calls_slots_moves_down_when_one_below_it_ends():
    table = _table([1, 1], [2, 2])
    # The text in slot 0 has ended: the one in slot 1 is the call's only sequence, so it moves to slot 0.
    assert place_packed(table, [[2, 2, 5]], answered=()) == [Placement(0, [2, 2, 5], 2, source=1, trim=True)]


def test_the_least_recent_of_some_slots_and_a_dropped_slot():
    table = _table([1], [2], [3])
    assert table.least_recent([1, 2]) == 1
    table.drop(1)
    assert table.ids[1] == [] and table.longest_prefix([2, 2]) == 0 and table.longest_prefix([3, 4]) == 1
