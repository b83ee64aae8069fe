"""Domain-free building blocks: ids, money, time, RQL, projections, pagination, streaming."""
