"""Play greedy episodes with a saved DQN model (MLP, LSTM or CNN, dueling, noisy), rebuilt from the checkpoint file alone.

    python part2_dqn/test.py models/part2_dqn/Pendulum-v1__dqn_mlp.pth --episodes 100
    python part2_dqn/test.py MODEL.pth --render human          # watch it (needs a display)
    python part2_dqn/test.py MODEL.pth --gif run.gif --plot angle.png   # the first episode as a GIF
    python part2_dqn/test.py models/part2_dqn/ALE-Pong-v5__dqn_cnn.pth --gif pong.gif   # Pong: the game's score
"""
import json
import os
import sys
from dataclasses import fields

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from plumbing import ArgumentParser, UserError, gif_path, load_checkpoint, quiet_sdl, run_main, seed_value
from train import ALGO, Config, make_agent, make_env


def rebuild(path, render_mode=None, device="cpu"):
    """(agent, env, checkpoint): the env and the network exactly as the checkpoint's config describes."""
    checkpoint = load_checkpoint(path, (ALGO,))
    names = {f.name for f in fields(Config)}
    config = Config(**{k: v for k, v in checkpoint["config"].items() if k in names})
    config.buffer_size = 1  # playing needs no replay memory
    config.batch_size = 1
    env = make_env(config, render_mode=render_mode)
    obs_shape, n_actions = env.observation_space.shape, int(env.action_space.n)
    if list(obs_shape) != list(checkpoint["obs_shape"]) or n_actions != checkpoint["n_actions"]:
        raise UserError(f"{path!r} was trained on observations {tuple(checkpoint['obs_shape'])} with "
                        f"{checkpoint['n_actions']} actions; its env now gives {tuple(obs_shape)} and {n_actions}")
    agent = make_agent(config, obs_shape, n_actions, device)
    try:
        agent.q_network.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError) as e:
        first = str(e).strip().splitlines()[0]
        raise UserError(f"{path!r}: its weights do not fit a {config.network} network of sizes {config.hidden} ({first})") from None
    agent.q_network.eval()  # eval mode: noisy layers play their mean weights (Agent.evaluate does the same)
    return agent, env, checkpoint


def plot_angles(agent, env, path, episodes=3, seed=0):
    """Pendulum: the pole angle (0 = upright) over time in a few greedy episodes."""
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
    parser = ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a .pth file written by train.py")
    parser.add_argument("--episodes", type=int, default=10, help="greedy episodes to play")
    parser.add_argument("--seed", type=seed_value, default=12345, help="seed of the first reset")
    parser.add_argument("--render", choices=["human"], help="open a window and show the episodes")
    parser.add_argument("--gif", metavar="PATH", help="write the first --gif-episodes episodes as a GIF")
    parser.add_argument("--gif-episodes", type=int, default=1, help="episodes the GIF shows (at most --gif-frames frames)")
    parser.add_argument("--gif-frames", type=int, default=1000, help="the GIF stops after this many frames")
    parser.add_argument("--plot", metavar="PATH", help="Pendulum: plot the pole angle over time")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    args = parser.parse_args(argv)
    for name in ("episodes", "gif_episodes", "gif_frames"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.render and sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError("--render human needs a display; on a headless machine use --gif PATH instead")
    gif = gif_path(args.gif) if args.gif else None  # a bad name fails now, not after the episodes
    torch.set_num_threads(1)
    quiet_sdl(args.render)
    agent, env, checkpoint = rebuild(args.model, "human" if args.render else None)
    env_id = checkpoint["config"]["env_id"]
    # the options the network was trained with (absent from checkpoints made before they existed)
    network = "_".join([checkpoint["config"]["network"], *(o for o in ("dueling", "noisy") if checkpoint["config"].get(o))])
    if not args.json:
        print(f"{env_id} ({network}): playing {args.episodes} greedy episodes", flush=True)
    mean, std = agent.evaluate(env, args.episodes, seed=args.seed)
    if gif:  # the first episodes again (the same seed), this time drawn: rendering is the slow part
        gif_env = make_env(agent.config, render_mode="rgb_array")
        frames = []

        def grab():
            if len(frames) < args.gif_frames:
                frames.append(gif_env.render())

        agent.evaluate(gif_env, min(args.gif_episodes, args.episodes), seed=args.seed, on_frame=grab)
        # Atari: one agent step is 4 frames of the 60 Hz console, so 15 steps make a second of the game
        fps = 15 if agent.config.network == "cnn" else gif_env.metadata.get("render_fps", 30)
        save_gif(frames, gif, fps=fps)
        gif_env.close()
    if args.plot:
        if env_id.startswith("Pendulum"):
            plot_angles(agent, make_env(agent.config), args.plot, seed=args.seed)
        else:
            print(f"(no plot for {env_id}: the angle plot is for Pendulum)")
    env.close()
    result = dict(env_id=env_id, network=checkpoint["config"]["network"], network_options=network, episodes=args.episodes,
                  mean=round(mean, 2), std=round(std, 2), trained_steps=checkpoint["step"])
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{env_id} ({network}): mean return {mean:.1f} ± {std:.1f} over {args.episodes} greedy "
              f"episodes (the env's own reward scale)")


if __name__ == "__main__":
    run_main(main)
