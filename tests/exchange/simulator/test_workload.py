"""Workload helpers used by the benchmark: they really trade through the tx path."""

from exchange.simulator.workload import bench_engine, crossing_orders, prepare_sweep


def test_crossing_orders_produces_one_trade_per_pair():
    engine = bench_engine()
    assert crossing_orders(engine, 25) == 25
    assert engine.book_levels(0) == ([], [])


def test_sweep_fills_every_resting_order_with_one_market_order():
    engine = bench_engine()
    run = prepare_sweep(engine, 120)

    assert run() == 120
    assert engine.book_levels(0)[0] == []
