-- wrk script for bench/delivery_bench.sh: POST a ~200-byte JSON body (the
-- size of a delivery of bench/publish_event.lua's event) to the sink.
wrk.method = "POST"
wrk.body = '{"id":"evt_GRWNJXzlvW16pzNq8Wi25O9V","type":"bench.event",'
  .. '"timestamp":"2026-11-30T10:26:20Z","data":{"order_id":123456,'
  .. '"customer":"bench-customer-0001","amount_cents":4999,"currency":"EUR",'
  .. '"note":"delivery benchmark"}}'
wrk.headers["Content-Type"] = "application/json"
