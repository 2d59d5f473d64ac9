import asyncio

from lookout.runtime.supervisor import Service, Supervisor


def test_a_failing_service_is_restarted_and_all_stop():
    runs = {"flaky": 0, "steady": 0}

    async def flaky():
        runs["flaky"] += 1
        if runs["flaky"] < 3:
            raise RuntimeError("device went away")
        await asyncio.sleep(3600)

    async def steady():
        runs["steady"] += 1
        await asyncio.sleep(3600)

    async def main():
        sup = Supervisor([Service("flaky", flaky), Service("steady", steady)], max_backoff_s=0.05)
        sup.start()
        for _ in range(200):
            if runs["flaky"] >= 3:
                break
            await asyncio.sleep(0.02)
        await sup.stop()
        return sup

    sup = asyncio.run(main())
    assert runs == {"flaky": 3, "steady": 1}
    assert sup.restarts == {"flaky": 2} and not sup.tasks
