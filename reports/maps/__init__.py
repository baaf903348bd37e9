"""民情地图: the households of a building, a grid or a community drawn in the browser from the app's
own data, with no online map tiles (street offices run on intranets).

- ``rooms``: the floor of a room number ("1502" → 15, "B101" → -1, "12号" → none);
- ``data``: what the pages draw, read in one query for the household rows (+ a constant few);
- ``rules``: who may read the maps and who may place buildings on a plan;
- ``spots``: saving the buildings' places on a plan (拖放楼栋, the street admin's);
- ``views``: the 楼栋图 of a building and of a community, the 网格图 of a grid or a community.
"""
