"""``YT8MDataset`` read again and again, for the full-loop benchmark cases (a module of its
own: it imports torch, and worker processes must find the class by name to unpickle it)."""

from yt8m_lib.torch.data import YT8MDataset


class EndlessDataset(YT8MDataset):
    """Epoch after epoch of the same records, without end (the steady state of a long
    epoch); a reader with no records raises instead of spinning."""

    def __iter__(self):
        while True:
            empty = True
            for example in super().__iter__():
                empty = False
                yield example
            if empty:
                raise RuntimeError("a reader of the benchmark data has no records")
