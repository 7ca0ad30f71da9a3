"""Scheduling, in one place: what the machine takes, who goes first, and who waits.

- capacity: one Capacity, from which the queue lanes, the generation limit, the
  sequences of a decode step and the thread counts are derived, its rules checked.
- admission: at most Capacity.max_jobs heavy jobs at once, Capacity.per_caller of them
  one caller's; the next is refused by name.
- fair: whose texts a model's decode step takes next, caller by caller.
- keystrokes: why a keystroke never waits behind a generation (lanes, Turns, UrgentFirst).
- traffic: requests in flight in the process, and whether people are typing.

The decode steps themselves run in autowrite.batcher; the llama.cpp compute thread in
autowrite.backends.compute; the Gradio lanes in autowrite.ui.lanes. Each asks here.
"""

from autowrite.scheduling.admission import BUSY, OWN, Admission, Crowded
from autowrite.scheduling.capacity import CAPACITY, Capacity, CapacityError, Lanes, cpu_count
from autowrite.scheduling.fair import FairQueue, Part, Share
from autowrite.scheduling.keystrokes import KEYSTROKE_PRIORITY_S, Turns, UrgentFirst
from autowrite.scheduling.traffic import Traffic

# The service's defaults for its Admission.
MAX_JOBS = CAPACITY.max_jobs
PER_CALLER = CAPACITY.per_caller

__all__ = [
    "BUSY",
    "CAPACITY",
    "KEYSTROKE_PRIORITY_S",
    "MAX_JOBS",
    "OWN",
    "PER_CALLER",
    "Admission",
    "Capacity",
    "CapacityError",
    "Crowded",
    "FairQueue",
    "Lanes",
    "Part",
    "Share",
    "Traffic",
    "Turns",
    "UrgentFirst",
    "cpu_count",
]
