"""Python baseline for listing-memory (crates/bench): the same generated bucket (OBJECTS keys over 100
sub-folders, pages of 1,000 shaped as boto3's ListObjectsV2 pages, all 30 days old but the last NEW),
listed page by page, keeping only the objects at or after the cutoff (the watermark an hour ago, less
24 hours of overlap) that a ledger (a dict) has not seen, then sorted oldest first. Prints one JSON
line: objects listed, selected, seconds, this process's peak RSS.
Usage: listing.py OBJECTS NEW"""
import json, resource, sys, time
from datetime import datetime, timedelta, timezone

FOLDERS, PAGE = 100, 1000

def main():
    objects, new = int(sys.argv[1]), int(sys.argv[2])
    now = datetime.now(timezone.utc)
    cutoff = now - timedelta(hours=1) - timedelta(hours=24)
    old_time, new_time = now - timedelta(days=30), now - timedelta(minutes=10)
    ledger = {}
    start = time.perf_counter()
    listed, selected = 0, []
    for folder in range(min(FOLDERS, objects)):
        in_folder = (objects + FOLDERS - 1 - folder) // FOLDERS
        for page_start in range(0, in_folder, PAGE):
            page = {"Contents": [{"Key": f"in/{folder:02}/obj-{i:08}.csv", "ETag": f'"{i:032x}"', "Size": 32,
                                  "LastModified": new_time if i >= objects - new else old_time,
                                  "StorageClass": "STANDARD"}
                                 for i in (folder + k * FOLDERS for k in range(page_start, min(page_start + PAGE, in_folder)))]}
            listed += len(page["Contents"])
            selected.extend(o for o in page["Contents"] if o["LastModified"] >= cutoff and ledger.get(o["Key"]) != o["ETag"])
    selected.sort(key=lambda o: (o["LastModified"], o["Key"]))
    seconds = time.perf_counter() - start
    assert listed == objects and len(selected) == new, (listed, len(selected))
    print(json.dumps({"objects": objects, "objects_listed": listed, "objects_selected": len(selected),
                      "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))

if __name__ == "__main__":
    main()
