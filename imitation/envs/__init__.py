"""Brax imitation tasks, each with an expert and a success rule, behind `make(name)`."""

import contextlib
import functools
import io
import warnings

# Importing mujoco.mjx prints a notice about the optional `warp` backend to stdout, and
# Brax warns that its pipelines are unmaintained; neither concerns our CPU/MJX use.
warnings.filterwarnings('ignore', message='Brax System, piplines and environments')
warnings.filterwarnings('ignore', message='Failed to import mujoco_warp')
with contextlib.redirect_stdout(io.StringIO()):
  import brax.envs  # pylint: disable=unused-import

from imitation.envs import drive
from imitation.envs import grasp
from imitation.envs import obstacle
from imitation.envs import pick_place
from imitation.envs import push
from imitation.envs import reach
from imitation.envs import reach_multi
from imitation.envs import suite
from imitation.envs import tabletop
from imitation.envs.base import (ExpertFn, ImitationTask, expert_fn, group_index,
                                 group_task_ids,
                                 observation_spec, reset_observations, task_names)
from imitation.envs.registry import make, make_from_config, make_held_out_from_config
from imitation.envs.registry import register, registered_tasks

register('reach', reach.Reach)
register('drive', drive.Drive)
register('push', push.Push)
register('grasp', grasp.Grasp)
register('obstacle', obstacle.Obstacle)
register('reach_multi', reach_multi.ReachMulti)
register('tabletop', tabletop.Tabletop)
register('pick_place', pick_place.PickPlace)
register('suite', suite.make_suite)
# Half the bars have two equally valid grasps: a multimodal target.
register('grasp_multimodal', functools.partial(grasp.Grasp, multimodal_fraction=0.5))

__all__ = [
    'ExpertFn', 'ImitationTask', 'expert_fn', 'group_index', 'group_task_ids', 'make',
    'make_from_config', 'make_held_out_from_config', 'observation_spec', 'register', 'registered_tasks', 'reset_observations', 'task_names',
]
