// Entry point: mounts the app.
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import './phone.css';
import { keepAppShell } from './lib/offline';

const target = document.getElementById('app');
if (target) mount(App, { target });
keepAppShell();
