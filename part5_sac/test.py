"""Play greedy episodes (the policy's mean action) with a saved SAC model, rebuilt from the checkpoint file alone.

    python part5_sac/test.py models/part5_sac/Pendulum-v1__sac.pth --episodes 100
    python part5_sac/test.py MODEL.pth --render human              # watch it (needs a display)
    python part5_sac/test.py MODEL.pth --gif run.gif --plot angle.png
"""
import argparse
import json
import os
import sys
from dataclasses import fields, replace

import numpy as np
import torch

from agent import Agent
from plumbing import ArgumentParser, UserError, gif_path, load_checkpoint, quiet_sdl, run_main, seed_value
from train import ALGO, Config, make_env


def rebuild(path, render_mode=None, device="cpu"):
    """(agent, env, checkpoint): the env and the actor exactly as the checkpoint's config describes."""
    checkpoint = load_checkpoint(path, (ALGO,))
    names = {f.name for f in fields(Config)}
    config = Config(**{k: v for k, v in checkpoint["config"].items() if k in names})
    config = replace(config, buffer_size=1)  # playing needs no replay memory
    env = make_env(config, render_mode=render_mode)
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    if obs_dim != checkpoint["obs_dim"] or action_dim != checkpoint["action_dim"]:
        raise UserError(f"{str(path)!r} was trained on {checkpoint['obs_dim']} observations and {checkpoint['action_dim']} "
                        f"action dimensions; its env {config.env_id!r} now gives {obs_dim} and {action_dim}")
    agent = Agent(config, obs_dim, action_dim, device)
    try:
        agent.actor.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0]
        raise UserError(f"{str(path)!r}: its weights do not fit an actor of sizes {config.hidden} ({first})") from None
    agent.actor.eval()
    return agent, env, checkpoint


def plot_angles(agent, env, path, episodes=3, seed=0):
    """Pendulum: the pole angle (0 = upright) over time in a few greedy episodes (as in Part 2, for a side by side)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    pendulum = env.unwrapped
    for episode in range(episodes):
        angles = []  # recorded after every step of the agent's own greedy evaluation loop
        agent.evaluate(env, 1, seed=seed + episode,
                       on_frame=lambda: angles.append((pendulum.state[0] + np.pi) % (2 * np.pi) - np.pi))
        ax.plot(angles, label=f"episode {episode + 1}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("pole angle (rad, 0 = upright)")
    ax.set_ylim(-np.pi, np.pi)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_gif(frames, path, fps=30):
    """Write rendered RGB frames as an animated GIF (Pillow comes with matplotlib)."""
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)


def main(argv=None):
    parser = ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("model", help="a .pth file written by train.py")
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes to play")
    parser.add_argument("--seed", type=seed_value, default=12345, help="seed of the first reset")
    parser.add_argument("--render", choices=["human"], help="open a window and show the episodes")
    parser.add_argument("--gif", metavar="PATH", help="write the first --gif-episodes episodes as an animated GIF")
    parser.add_argument("--gif-episodes", type=int, default=1, help="episodes recorded into the GIF")
    parser.add_argument("--plot", metavar="PATH", help="Pendulum: plot the pole angle over time")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}")
    if args.gif_episodes < 1:
        raise UserError(f"--gif-episodes must be at least 1, got {args.gif_episodes}")
    if args.gif:
        args.gif = gif_path(args.gif)
    if args.render and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--render human needs a display; on a headless machine use --gif PATH instead")
    quiet_sdl(args.render)
    torch.set_num_threads(1)
    agent, env, checkpoint = rebuild(args.model, "human" if args.render else None)
    env_id = checkpoint["config"]["env_id"]
    mean, std = agent.evaluate(env, args.episodes, seed=args.seed)
    env.close()
    if args.gif:  # a separate rendering env, so the score above covers all episodes and the GIF stays short
        gif_env = make_env(agent.config, render_mode="rgb_array")
        frames = []
        agent.evaluate(gif_env, args.gif_episodes, seed=args.seed, on_frame=lambda: frames.append(gif_env.render()))
        save_gif(frames, args.gif, fps=gif_env.metadata.get("render_fps", 30))
        gif_env.close()
    if args.plot:
        if env_id.startswith("Pendulum"):
            plot_angles(agent, make_env(agent.config), args.plot, seed=args.seed)
        else:
            print(f"(no plot for {env_id}: the angle plot is for Pendulum)")
    result = dict(env_id=env_id, episodes=args.episodes, mean=round(mean, 2), std=round(std, 2),
                  trained_steps=checkpoint["step"])
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{env_id} (SAC): mean return {mean:.1f} ± {std:.1f} over {args.episodes} greedy episodes")


if __name__ == "__main__":
    run_main(main, interrupted="interrupted")  # Ctrl-C or SIGTERM: one line, exit 130, no traceback
