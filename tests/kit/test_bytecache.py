"""The bounded encoded-item memo."""

from __future__ import annotations

from billing.kit.bytecache import ByteCache


class TestByteCache:
    def test_get_what_was_put(self):
        cache = ByteCache(budget=100)
        cache.put(("a", b"1"), b"xyz")
        assert cache.get(("a", b"1")) == b"xyz" and cache.get(("a", b"2")) is None

    def test_oldest_entries_go_beyond_the_budget(self):
        cache = ByteCache(budget=10)
        for key in "abcd":
            cache.put(key, b"1234")
        assert [cache.get(key) for key in "abcd"] == [None, None, b"1234", b"1234"]
        assert cache.size == 8 and len(cache) == 2

    def test_replacing_an_entry_keeps_the_size_right(self):
        cache = ByteCache(budget=10)
        cache.put("a", b"123456")
        cache.put("a", b"12")
        cache.put("b", b"12345678")
        assert cache.get("a") == b"12" and cache.size == 10

    def test_an_item_larger_than_the_budget_is_not_kept(self):
        cache = ByteCache(budget=4)
        cache.put("a", b"12345")
        assert cache.get("a") is None and cache.size == 0
